//! The binary as its operator meets it. (The server's behaviour is tested from the
//! workspace's `tests/`, against the real app; this file also makes `cargo test` build the
//! binary those tests run.)

use std::process::Command;

#[test]
fn the_binary_names_every_command_in_its_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_sotay-server")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in
        ["serve", "commune", "hamlet", "volunteer", "admin", "enrol-code", "devices", "revoke", "backup", "restore"]
    {
        assert!(help.contains(command), "`{command}` is missing from --help: {help}");
    }
}
