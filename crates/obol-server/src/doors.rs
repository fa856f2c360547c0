//! Every door the server mounts, in one list: adding a dialect is its crate plus one line here.

use std::sync::Arc;

use obol_http::door::{Door, Registry};

use crate::workers::lifecycle::PaymentExpiry;

/// The doors, in the order an unmatched path is offered to them (for its 404 or 405 in the
/// owner's format): the narrower `/api/…` prefixes before Paymega's `/api/`.
pub fn all() -> Result<Vec<Arc<dyn Door>>, reqwest::Error> {
    Ok(vec![
        Arc::new(obol_p2p::door::P2pDoor),
        Arc::new(obol_yookassa::door::YookassaDoor::new()?),
        Arc::new(obol_activeplatform::door::ActivePlatformDoor),
        Arc::new(obol_paymega::door::PaymegaDoor),
        Arc::new(obol_softline::door::SoftlineDoor),
        Arc::new(obol_hpp::door::HostedPageDoor),
    ])
}

/// The registry of every door's callback formats, jobs and checkout entries, with the jobs
/// that belong to no door.
pub fn registry() -> Result<Arc<Registry>, reqwest::Error> {
    Ok(Arc::new(
        Registry::new(&all()?).with_job(Arc::new(PaymentExpiry)),
    ))
}
