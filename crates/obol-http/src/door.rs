//! The interfaces through which shared machinery reaches a door. A door (a dialect crate, the
//! hosted page) implements [`Door`]; the server lists its doors once, at start-up, and merges
//! their routes. The callbacks outbox and worker, the lifecycle worker and the hosted-page
//! engine then ask the registered doors — selected by a typed value ([`CallbackDialect`], a
//! payment's [`Source`], a job kind) — and never import a door or compare a dialect's name.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::future::BoxFuture;
use obol_core::payment::{Payment, Source, Transition};
use obol_core::time::Timestamp;
use obol_store::ops::callbacks::{AfterFailure, NewCallback};
use obol_store::{Db, StoreResult};
use serde_json::{Map, Value};

use crate::callbacks::schedule;
use crate::config::AcquirerKind;
use crate::crypto::OperatorKey;
use crate::routes::Routes;
use crate::state::AppState;
use crate::upstream::UpstreamConnector;

/// A door: its routes, its answers for unknown paths and methods under its prefixes, and its
/// part of the OpenAPI document. Everything else a door offers is optional.
pub trait Door: Send + Sync {
    /// The door's routes, merged into the application's router, with the table of what they
    /// answer (every entry must be in the OpenAPI document).
    fn routes(&self) -> Routes;
    /// Whether an unmatched path belongs to this door (so its 404 and 405 answer in its format).
    fn owns_path(&self, _path: &str) -> bool {
        false
    }
    /// The answer to an unknown path this door owns.
    fn not_found(&self, path: &str) -> Response;
    /// The answer to a known path of this door called with another method.
    fn method_not_allowed(&self, path: &str) -> Response;
    /// Its operations in the OpenAPI document (path → path item).
    fn openapi_paths(&self) -> Map<String, Value> {
        Map::new()
    }
    /// Its schemas in the OpenAPI document's components.
    fn openapi_schemas(&self) -> Map<String, Value> {
        Map::new()
    }
    /// The callback format of the payments that came through it, if it has one.
    fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
        None
    }
    /// The lifecycle jobs it schedules.
    fn jobs(&self) -> Vec<Arc<dyn JobRunner>> {
        Vec::new()
    }
    /// Its way into the hosted page from a merchant's own HTML form, if it has one.
    fn checkout_entry(&self) -> Option<Arc<dyn CheckoutEntry>> {
        None
    }
    /// The connector to its provider's API, when live routes (SPEC §4) may settle payments
    /// there: the one kind of `[[acquirers]]` it serves.
    fn upstream_connector(&self) -> Option<Arc<dyn UpstreamConnector>> {
        None
    }
}

/// The format of a stored callback, kept in the `callbacks.dialect` column as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackDialect {
    Paymega,
    Softline,
    P2p,
    /// YooKassa's notifications, sent by the YooKassa sandbox for its payments and refunds.
    YookassaSandbox,
}

impl CallbackDialect {
    pub const ALL: [CallbackDialect; 4] = [
        CallbackDialect::Paymega,
        CallbackDialect::Softline,
        CallbackDialect::P2p,
        CallbackDialect::YookassaSandbox,
    ];

    /// The name stored with each callback (never renamed: stored rows carry it).
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackDialect::Paymega => "paymega",
            CallbackDialect::Softline => "softline",
            CallbackDialect::P2p => "p2p",
            CallbackDialect::YookassaSandbox => "yookassa_sandbox",
        }
    }

    pub fn parse(text: &str) -> Option<CallbackDialect> {
        CallbackDialect::ALL
            .into_iter()
            .find(|dialect| dialect.as_str() == text)
    }

    /// The format a payment's callbacks take, by the door it came through; `None`: its door
    /// sends none (a payment relayed to a YooKassa upstream is reported by that upstream).
    pub fn of_source(source: Source) -> Option<CallbackDialect> {
        match source {
            Source::PublicApi | Source::MerchantApi | Source::Form | Source::Cli => {
                Some(CallbackDialect::Paymega)
            }
            Source::SoftlineApi => Some(CallbackDialect::Softline),
            // ActivePlatform's managers' payments report in Paymega's format (SPEC §5).
            Source::Manager | Source::P2p => Some(CallbackDialect::Paymega),
            Source::YookassaSandbox => Some(CallbackDialect::YookassaSandbox),
            Source::Yookassa => None,
        }
    }
}

/// What the outbox gives a callback format to render a payment's callback.
pub struct RenderContext<'a> {
    pub public_url: &'a str,
    pub key: &'a OperatorKey,
}

/// A door's callbacks: how they are written (in the transaction that changes the payment),
/// signed and sent at each attempt, judged, and retried.
pub trait CallbackFormat: Send + Sync {
    fn dialect(&self) -> CallbackDialect;

    /// The callback reporting a payment's current state (`creation`: it was just created), or
    /// `None` when this change is not reported or there is nowhere to send it. Runs inside the
    /// transaction that changed the payment, so it awaits nothing but `db`.
    fn render_payment<'a>(
        &'a self,
        _db: &'a mut dyn Db,
        _payment: &'a Payment,
        _context: RenderContext<'a>,
        _now: Timestamp,
        _creation: bool,
    ) -> BoxFuture<'a, StoreResult<Option<NewCallback>>> {
        Box::pin(async { Ok(None) })
    }

    /// The callback reporting the change `transition` made to a payment (now `payment`), or
    /// `None`; by default the callback of the payment's new state ([`Self::render_payment`]).
    /// A format whose events name the change (a refund rather than a status) renders it here.
    /// Runs inside the transaction that changed the payment.
    fn render_transition<'a>(
        &'a self,
        db: &'a mut dyn Db,
        payment: &'a Payment,
        _transition: &'a Transition,
        context: RenderContext<'a>,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<Option<NewCallback>>> {
        self.render_payment(db, payment, context, now, false)
    }

    /// The body sent at one attempt, from the stored one (P2P signs its claims at each attempt,
    /// so the token's `iat` is the time it is sent).
    fn body_at_attempt(&self, stored: &[u8], _secret: &str, _now: Timestamp) -> Vec<u8> {
        stored.to_vec()
    }

    /// The dialect's own signature headers, over the stored body.
    fn signature_headers(&self, _secret: &str, _stored: &[u8]) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Whether an answer counts as delivered: any 2xx unless the dialect says otherwise.
    fn accepted(&self, status: u16) -> bool {
        (200..300).contains(&status)
    }

    /// What happens after the `attempts`-th attempt failed (SPEC §5); exponential backoff for
    /// three days unless the dialect has its own schedule.
    fn after_failure(
        &self,
        attempts: i64,
        created_at: Timestamp,
        now: Timestamp,
        jitter: u32,
    ) -> AfterFailure {
        schedule::backoff(attempts, created_at, now, jitter)
    }
}

/// A lifecycle job kind a door schedules, run by the lifecycle worker when it is due.
pub trait JobRunner: Send + Sync {
    /// The kind stored with the job (never renamed: stored rows carry it).
    fn kind(&self) -> &'static str;

    /// Runs one due job on `subject` inside the worker's transaction (awaiting nothing but
    /// `db`); the worker marks it done in the same transaction when this succeeds.
    fn run<'a>(
        &'a self,
        db: &'a mut dyn Db,
        outbox: &'a crate::callbacks::outbox::Outbox,
        subject: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, StoreResult<()>>;
}

/// The callback formats and job runners of every registered door, looked up by typed value.
#[derive(Default)]
pub struct Registry {
    /// In the order unmatched paths are offered to them.
    doors: Vec<Arc<dyn Door>>,
    formats: HashMap<CallbackDialect, Arc<dyn CallbackFormat>>,
    jobs: HashMap<&'static str, Arc<dyn JobRunner>>,
    checkout: Vec<Arc<dyn CheckoutEntry>>,
    connectors: Vec<Arc<dyn UpstreamConnector>>,
}

impl Registry {
    pub fn new(doors: &[Arc<dyn Door>]) -> Registry {
        let mut registry = Registry {
            doors: doors.to_vec(),
            ..Registry::default()
        };
        for door in doors {
            if let Some(format) = door.callback_format() {
                registry.formats.insert(format.dialect(), format);
            }
            for job in door.jobs() {
                registry.jobs.insert(job.kind(), job);
            }
            if let Some(entry) = door.checkout_entry() {
                registry.checkout.push(entry);
            }
            if let Some(connector) = door.upstream_connector() {
                registry.connectors.push(connector);
            }
        }
        registry
    }

    /// Adds a job runner that belongs to no door (payment expiry).
    pub fn with_job(mut self, job: Arc<dyn JobRunner>) -> Registry {
        self.jobs.insert(job.kind(), job);
        self
    }

    pub fn doors(&self) -> &[Arc<dyn Door>] {
        &self.doors
    }

    /// The first door that owns an unmatched path.
    pub fn owner_of(&self, path: &str) -> Option<&Arc<dyn Door>> {
        self.doors.iter().find(|door| door.owns_path(path))
    }

    pub fn format(&self, dialect: CallbackDialect) -> Option<&Arc<dyn CallbackFormat>> {
        self.formats.get(&dialect)
    }

    pub fn job(&self, kind: &str) -> Option<&Arc<dyn JobRunner>> {
        self.jobs.get(kind)
    }

    pub fn checkout_entries(&self) -> &[Arc<dyn CheckoutEntry>] {
        &self.checkout
    }

    /// The connector of live routes of `kind`.
    pub fn upstream_connector(&self, kind: AcquirerKind) -> Option<Arc<dyn UpstreamConnector>> {
        self.connectors
            .iter()
            .find(|connector| connector.kind() == kind)
            .cloned()
    }
}

/// A merchant's own HTML form posting (or linking) straight to `/hpp/`: the door whose fields
/// it carries creates the payment and sends the customer on to its page.
pub trait CheckoutEntry: Send + Sync {
    /// Whether the query's fields are this door's form.
    fn claims(&self, pairs: &[(String, String)]) -> bool;

    fn enter<'a>(
        &'a self,
        state: &'a AppState,
        pairs: &'a [(String, String)],
        headers: &'a HeaderMap,
        client_ip: Option<String>,
    ) -> BoxFuture<'a, Response>;
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn callback_dialects_round_trip_their_stored_names() {
        for dialect in CallbackDialect::ALL {
            assert_eq!(CallbackDialect::parse(dialect.as_str()), Some(dialect));
        }
        assert_eq!(CallbackDialect::parse("Paymega"), None);
        assert_eq!(CallbackDialect::parse(""), None);
        assert_eq!(
            CallbackDialect::of_source(Source::SoftlineApi),
            Some(CallbackDialect::Softline)
        );
        assert_eq!(
            CallbackDialect::of_source(Source::Manager),
            Some(CallbackDialect::Paymega)
        );
        assert_eq!(CallbackDialect::of_source(Source::Yookassa), None);
        assert_eq!(
            CallbackDialect::of_source(Source::YookassaSandbox),
            Some(CallbackDialect::YookassaSandbox)
        );
    }

    struct Format(CallbackDialect);

    impl CallbackFormat for Format {
        fn dialect(&self) -> CallbackDialect {
            self.0
        }
    }

    struct Job;

    impl JobRunner for Job {
        fn kind(&self) -> &'static str {
            "test_job"
        }

        fn run<'a>(
            &'a self,
            _db: &'a mut dyn Db,
            _outbox: &'a crate::callbacks::outbox::Outbox,
            _subject: &'a str,
            _now: Timestamp,
        ) -> BoxFuture<'a, StoreResult<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    /// A door owning `prefix`, answering its 404 with `status`.
    struct Fake {
        prefix: &'static str,
        status: StatusCode,
        format: Option<CallbackDialect>,
    }

    impl Door for Fake {
        fn routes(&self) -> Routes {
            Routes::new()
        }

        fn owns_path(&self, path: &str) -> bool {
            path.starts_with(self.prefix)
        }

        fn not_found(&self, _path: &str) -> Response {
            self.status.into_response()
        }

        fn method_not_allowed(&self, _path: &str) -> Response {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        }

        fn callback_format(&self) -> Option<Arc<dyn CallbackFormat>> {
            self.format
                .map(|dialect| Arc::new(Format(dialect)) as Arc<dyn CallbackFormat>)
        }

        fn jobs(&self) -> Vec<Arc<dyn JobRunner>> {
            if self.format.is_some() {
                vec![Arc::new(Job)]
            } else {
                Vec::new()
            }
        }
    }

    #[test]
    fn the_registry_finds_formats_jobs_and_the_first_owner_of_a_path() {
        let doors: Vec<Arc<dyn Door>> = vec![
            Arc::new(Fake {
                prefix: "/api/narrow",
                status: StatusCode::IM_A_TEAPOT,
                format: Some(CallbackDialect::P2p),
            }),
            Arc::new(Fake {
                prefix: "/api",
                status: StatusCode::NOT_FOUND,
                format: None,
            }),
        ];
        let registry = Registry::new(&doors);
        assert_eq!(registry.doors().len(), 2);
        assert!(registry.format(CallbackDialect::P2p).is_some());
        assert!(registry.format(CallbackDialect::Paymega).is_none());
        assert!(registry.job("test_job").is_some());
        assert!(registry.job("payment_expiry").is_none());
        let owner = |path: &str| {
            registry
                .owner_of(path)
                .map(|door| door.not_found(path).status())
        };
        assert_eq!(owner("/api/narrow/x"), Some(StatusCode::IM_A_TEAPOT));
        assert_eq!(owner("/api/other"), Some(StatusCode::NOT_FOUND));
        assert_eq!(owner("/elsewhere"), None);
        assert!(registry.checkout_entries().is_empty());
    }
}
