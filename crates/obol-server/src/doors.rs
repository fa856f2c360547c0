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
        Arc::new(obol_dashboard::door::DashboardDoor),
    ])
}

/// The registry of every door's callback formats, jobs and checkout entries, with the jobs
/// that belong to no door.
pub fn registry() -> Result<Arc<Registry>, reqwest::Error> {
    Ok(Arc::new(
        Registry::new(&all()?).with_job(Arc::new(PaymentExpiry)),
    ))
}

#[cfg(test)]
mod tests {
    /// Every door crate's manifest, and the shared crate's.
    const MANIFESTS: [(&str, &str); 8] = [
        (
            "obol-paymega",
            include_str!("../../obol-paymega/Cargo.toml"),
        ),
        (
            "obol-softline",
            include_str!("../../obol-softline/Cargo.toml"),
        ),
        (
            "obol-activeplatform",
            include_str!("../../obol-activeplatform/Cargo.toml"),
        ),
        ("obol-p2p", include_str!("../../obol-p2p/Cargo.toml")),
        (
            "obol-yookassa",
            include_str!("../../obol-yookassa/Cargo.toml"),
        ),
        ("obol-hpp", include_str!("../../obol-hpp/Cargo.toml")),
        (
            "obol-dashboard",
            include_str!("../../obol-dashboard/Cargo.toml"),
        ),
        ("obol-http", include_str!("../../obol-http/Cargo.toml")),
    ];

    /// A door that imports another does not build because it may not name it as a dependency:
    /// doors (and the shared crate) depend on obol-core, obol-store and obol-http only.
    #[test]
    fn no_door_depends_on_another() {
        let allowed = ["obol-core", "obol-store", "obol-http"];
        for (name, manifest) in MANIFESTS {
            let manifest: toml::Table = toml::from_str(manifest).unwrap();
            for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
                let Some(toml::Value::Table(dependencies)) = manifest.get(section) else {
                    continue;
                };
                for dependency in dependencies.keys() {
                    assert!(
                        !dependency.starts_with("obol") || allowed.contains(&dependency.as_str()),
                        "{name} depends on {dependency}"
                    );
                }
            }
        }
    }
}
