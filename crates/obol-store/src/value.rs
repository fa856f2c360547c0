//! Backend-neutral parameter values and result rows, so each operation is written once.

use crate::error::{StoreError, StoreResult};

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Value {
        Value::Text(value.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Value {
        Value::Blob(value)
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Value {
        Value::Blob(value.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

/// Builds a parameter list: `params![id, name, None::<i64>]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::value::Value::from($value)),*][..]
    };
}

/// The names of a result's columns, shared by all its rows (built once per statement).
pub type ColumnNames = std::sync::Arc<[Box<str>]>;

/// How a column of a [`Row`] is named: by its name in the query (`"currency"`), which is how
/// operations read, or by its position (`0`), for one-column answers such as `COUNT(*)`.
pub trait ColumnIndex: Copy + std::fmt::Display {
    fn position(self, columns: &[Box<str>]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(self, columns: &[Box<str>]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}

impl ColumnIndex for &str {
    /// A linear scan: rows have at most a few dozen columns of short names, so comparing them
    /// costs less than hashing would, and nothing is allocated.
    fn position(self, columns: &[Box<str>]) -> Option<usize> {
        columns.iter().position(|column| &**column == self)
    }
}

/// One result row, read by column name (or position).
#[derive(Debug, Clone)]
pub struct Row {
    columns: ColumnNames,
    values: Vec<Value>,
}

impl Row {
    /// A row of a result whose columns are `columns`; `values` are in the same order.
    pub(crate) fn new(columns: ColumnNames, values: Vec<Value>) -> Row {
        debug_assert_eq!(columns.len(), values.len());
        Row { columns, values }
    }

    /// The column names, in the order the query lists them.
    pub fn columns(&self) -> &[Box<str>] {
        &self.columns
    }

    /// The value of a column, whatever its type.
    pub fn value(&self, column: impl ColumnIndex) -> StoreResult<&Value> {
        column
            .position(&self.columns)
            .and_then(|position| self.values.get(position))
            .ok_or_else(|| StoreError::Corrupt(format!("column {column} missing")))
    }

    pub fn int(&self, column: impl ColumnIndex) -> StoreResult<i64> {
        match self.value(column)? {
            Value::Int(value) => Ok(*value),
            Value::Bool(value) => Ok(i64::from(*value)),
            other => Err(StoreError::Corrupt(format!(
                "column {column}: expected an integer, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, column: impl ColumnIndex) -> StoreResult<Option<i64>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    pub fn text(&self, column: impl ColumnIndex) -> StoreResult<String> {
        self.str(column).map(str::to_owned)
    }

    /// A text column, borrowed from the row (no copy).
    pub fn str(&self, column: impl ColumnIndex) -> StoreResult<&str> {
        match self.value(column)? {
            Value::Text(value) => Ok(value),
            other => Err(StoreError::Corrupt(format!(
                "column {column}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, column: impl ColumnIndex) -> StoreResult<Option<String>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    pub fn blob(&self, column: impl ColumnIndex) -> StoreResult<Vec<u8>> {
        match self.value(column)? {
            Value::Blob(value) => Ok(value.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {column}: expected bytes, found {other:?}"
            ))),
        }
    }

    pub fn opt_blob(&self, column: impl ColumnIndex) -> StoreResult<Option<Vec<u8>>> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.blob(column).map(Some),
        }
    }

    pub fn bool(&self, column: impl ColumnIndex) -> StoreResult<bool> {
        match self.value(column)? {
            Value::Bool(value) => Ok(*value),
            Value::Int(value) => Ok(*value != 0),
            other => Err(StoreError::Corrupt(format!(
                "column {column}: expected a boolean, found {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_read_by_name_or_position() {
        let columns: ColumnNames = ["id", "amount", "note"].map(Box::from).into();
        let row = Row::new(
            columns,
            vec![Value::from("cpi_1"), Value::Int(250), Value::Null],
        );
        assert_eq!(row.text("id").unwrap(), "cpi_1");
        assert_eq!(row.int("amount").unwrap(), 250);
        assert_eq!(row.int(1).unwrap(), 250);
        assert_eq!(row.opt_text("note").unwrap(), None);
        assert!(
            matches!(row.int("missing"), Err(StoreError::Corrupt(message)) if message == "column missing missing")
        );
        assert!(matches!(row.int(3), Err(StoreError::Corrupt(_))));
        assert!(
            matches!(row.int("id"), Err(StoreError::Corrupt(message)) if message.starts_with("column id: expected an integer"))
        );
    }
}
