#!/usr/bin/env python3
"""Makes units.csv from the "full JSON" file of thanglequoc/vietnamese-provinces-database.

Usage: python3 data/units/generate.py full_json_generated_data_vn_units_*.json > data/units/units.csv
One line per commune-level unit (xã, phường, đặc khu), sorted by code:
code,name,type,province_code,province_name
"""
import csv
import json
import sys

units = json.load(open(sys.argv[1], encoding="utf-8"))
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["code", "name", "type", "province_code", "province_name"])
rows = []
for province in units:
    for ward in province["Wards"]:
        assert ward["ProvinceCode"] == province["Code"]
        rows.append([ward["Code"], ward["FullName"], ward["AdministrativeUnitShortName"],
                     province["Code"], province["FullName"]])
for row in sorted(rows):
    out.writerow(row)
