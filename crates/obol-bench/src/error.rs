//! What can stop a benchmark run (or one part of it). A failed scenario is recorded in the
//! report and the run goes on; only what leaves nothing to measure ends it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the server did not start: {0}")]
    ServerStart(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("unexpected answer from {what}: {detail}")]
    Answer { what: String, detail: String },
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("storage: {0}")]
    Store(String),
    #[error("{0}")]
    Invalid(String),
}

impl BenchError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> BenchError {
        BenchError::File {
            path: path.into(),
            source,
        }
    }

    pub fn answer(what: impl Into<String>, detail: impl Into<String>) -> BenchError {
        BenchError::Answer {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

impl From<obol_store::StoreError> for BenchError {
    fn from(error: obol_store::StoreError) -> BenchError {
        BenchError::Store(error.to_string())
    }
}

impl From<tokio_postgres::Error> for BenchError {
    fn from(error: tokio_postgres::Error) -> BenchError {
        BenchError::Postgres(error.to_string())
    }
}

pub type BenchResult<T> = Result<T, BenchError>;
