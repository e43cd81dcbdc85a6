//! SQLite, the commune's store: the statements SQLite says its own way ([`SQL`]). Its file
//! is opened, and its schema migrated, by [`super::schema`].

use super::value::Dialect;

/// The statements SQLite says its own way.
pub static SQL: Dialect = Dialect {
    unretire_hamlets: "DELETE FROM retired_hamlets WHERE commune = ?1
        AND id IN (SELECT json_extract(value, '$.id') FROM json_each(?2, '$.hamlets'))",
};
