//! Database URLs: the backend comes from the scheme, and anything unknown is refused before
//! anything is created (no accidental empty SQLite file from a typo).

use std::path::PathBuf;

use crate::error::StoreError;

#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path/to/file.db` (relative) or `sqlite:///absolute/path.db`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, passed to the driver as written.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<DatabaseUrl, StoreError> {
        let text = text.trim();
        if let Some(rest) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::BadUrl(
                    "names no SQLite file (an in-memory database would lose every payment)"
                        .to_owned(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(text.to_owned()));
        }
        let scheme = text.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        Err(StoreError::BadUrl(format!(
            "has an unsupported scheme `{scheme}`: use sqlite://PATH or postgres://…"
        )))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }

    /// The URL with any password replaced, for logs and messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest
        .split_once('/')
        .map_or((rest, ""), |(authority, tail)| (authority, tail));
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = credentials.split(':').next().unwrap_or_default();
    let separator = if tail.is_empty() && !rest.contains('/') {
        ""
    } else {
        "/"
    };
    if credentials.contains(':') {
        format!("{scheme}://{user}:***@{host}{separator}{tail}")
    } else {
        url.to_owned()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./obol-data/obol.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("./obol-data/obol.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db"))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://root@127.0.0.1/test").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://root@127.0.0.1/test").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
    }

    #[test]
    fn unknown_schemes_are_refused() {
        for bad in [
            "mysql://localhost/db",
            "obol.db",
            "",
            "sqlite://",
            "sqlite::memory:",
            "http://x",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgres://user:secret@db:5432/obol").unwrap();
        assert_eq!(url.redacted(), "postgres://user:***@db:5432/obol");
        assert!(!format!("{url:?}").contains("secret"));
    }
}
