//! The office's words: the commune's pages ([`office`]) and the province's ([`province`]),
//! in Vietnamese (default) and English. The choice lists' labels they share with the app
//! come from `domain::labels`.

pub mod office;
pub mod province;
pub mod report;
pub mod units;
