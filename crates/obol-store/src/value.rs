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

/// One result row; columns are read by position, as the query lists them.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, index: usize) -> StoreResult<&Value> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("column {index} missing")))
    }

    pub fn int(&self, index: usize) -> StoreResult<i64> {
        match self.get(index)? {
            Value::Int(value) => Ok(*value),
            Value::Bool(value) => Ok(i64::from(*value)),
            other => Err(StoreError::Corrupt(format!(
                "column {index}: expected an integer, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, index: usize) -> StoreResult<Option<i64>> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    pub fn text(&self, index: usize) -> StoreResult<String> {
        match self.get(index)? {
            Value::Text(value) => Ok(value.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {index}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, index: usize) -> StoreResult<Option<String>> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    pub fn blob(&self, index: usize) -> StoreResult<Vec<u8>> {
        match self.get(index)? {
            Value::Blob(value) => Ok(value.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {index}: expected bytes, found {other:?}"
            ))),
        }
    }

    pub fn opt_blob(&self, index: usize) -> StoreResult<Option<Vec<u8>>> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.blob(index).map(Some),
        }
    }

    pub fn bool(&self, index: usize) -> StoreResult<bool> {
        match self.get(index)? {
            Value::Bool(value) => Ok(*value),
            Value::Int(value) => Ok(*value != 0),
            other => Err(StoreError::Corrupt(format!(
                "column {index}: expected a boolean, found {other:?}"
            ))),
        }
    }
}
