//! The values both server stores speak — a statement's parameters ([`ToValue`], [`Params`],
//! [`params!`](crate::sql_params)) and a column's value ([`Value`], [`ValueRef`], read as a type by
//! [`FromValue`]) — and [`Dialect`], the statements each engine says its own way, written in
//! [`super::sqlite`] and [`super::postgres`]. Nothing here talks to a database; [`super::sql`]
//! does.

/// A parameter or a column's value, as both stores see it: flags are integers 0 and 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A column's value borrowed from its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Something that can be a statement's parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_value!(i64, i32, u32, u16, u8, usize, u64);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// A statement's parameters: an array of values (`[&code]`), [`params!`], `()` or a `Vec`.
pub trait Params {
    fn values(self) -> Vec<Value>;
}
impl<T: ToValue, const N: usize> Params for [T; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}
impl Params for &[&dyn ToValue] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}
impl Params for () {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}
impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}

/// Parameters of mixed types: `params![code, day, 3]`.
#[macro_export]
macro_rules! sql_params {
    () => { () };
    ($($x:expr),+ $(,)?) => { [$(&$x as &dyn $crate::db::value::ToValue),+] };
}
pub use crate::sql_params as params;

/// A type a column's value is read as.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> Option<Self>;
    /// What the column should have held, for the error.
    const WANTED: &'static str;
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> Option<Self> {
                match v {
                    ValueRef::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
            const WANTED: &'static str = "integer";
        }
    )*};
}
int_from!(i64, i32, u32, u64, usize);

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Int(i) => Some(i != 0),
            _ => None,
        }
    }
    const WANTED: &'static str = "flag";
}
impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Real(f) => Some(f),
            ValueRef::Int(i) => Some(i as f64),
            _ => None,
        }
    }
    const WANTED: &'static str = "number";
}
impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(s) => Some(s.to_owned()),
            _ => None,
        }
    }
    const WANTED: &'static str = "text";
}
impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Blob(b) => Some(b.to_vec()),
            _ => None,
        }
    }
    const WANTED: &'static str = "bytes";
}
impl FromValue for Value {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        Some(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
    const WANTED: &'static str = "any value";
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
    const WANTED: &'static str = T::WANTED;
}

/// Which engine a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The statements each engine says its own way (see [`super::sqlite::SQL`] and
/// [`super::postgres::SQL`]); a new one must be written for both, or nothing compiles.
pub struct Dialect {
    /// Forgets the retired hamlets that the reference data `?2` (JSON) gives back to
    /// commune `?1`.
    pub unretire_hamlets: &'static str,
}
