//! What replacing or withdrawing a credential does (SPEC §2: every credential can be replaced
//! and revoked). These are decisions: the store carries each one out in one transaction, and
//! the command line and the dashboard ask here rather than choosing for themselves.

use crate::time::Timestamp;

/// How long a merchant's previous callback secret keeps signing beside the new one: a day,
/// long enough for a receiver to deploy the new secret without refusing a single callback.
pub const CALLBACK_SECRET_OVERLAP_SECONDS: i64 = 24 * 3600;

/// Replacing a merchant's `api_secret`.
///
/// A secret is replaced because it leaked, or may have. The old secret stops at once (no
/// overlap: whoever holds it must lose it), and so do the bearer tokens and refresh tokens
/// bought with it on Softline's `login_check`: otherwise a thief who exchanged the leaked
/// secret for tokens would keep 24 hours of access (30 days by refreshing) after the rotation.
/// The merchant logs in again with the new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSecretRotation {
    pub at: Timestamp,
    /// Every bearer token (and its refresh token) of the merchant is revoked.
    pub revokes_bearer_tokens: bool,
}

impl ApiSecretRotation {
    pub fn at(now: Timestamp) -> ApiSecretRotation {
        ApiSecretRotation {
            at: now,
            revokes_bearer_tokens: true,
        }
    }
}

/// Replacing a merchant's callback secret.
///
/// Unlike an API secret, a callback secret is checked by the merchant's receiver, which cannot
/// switch at the very moment of the rotation. So the new secret signs from now on (and is the
/// only one the dialects' own signatures use), while the previous one keeps signing beside it
/// (a second `v1` in `X-Obol-Signature`) until `previous_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackSecretRotation {
    pub at: Timestamp,
    pub previous_until: Timestamp,
}

impl CallbackSecretRotation {
    pub fn at(now: Timestamp) -> CallbackSecretRotation {
        CallbackSecretRotation {
            at: now,
            previous_until: now.plus_seconds(CALLBACK_SECRET_OVERLAP_SECONDS),
        }
    }
}

/// Whether a previous callback secret, kept until `until`, still signs at `now`.
pub fn previous_callback_secret_signs(until: Timestamp, now: Timestamp) -> bool {
    now < until
}

/// A dashboard session ends after this long without a request (SPEC §7: 12 hours idle).
pub const SESSION_IDLE_SECONDS: i64 = 12 * 3_600;

/// Where a manager stands: what every check of a manager's credential (the API token, and a
/// dashboard session made with it) asks before letting the manager act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerStanding {
    /// When the manager was disabled; a disabled manager is never enabled by a rotation.
    pub disabled_at: Option<Timestamp>,
    /// Counts the manager's tokens: 1 for the first, one more for each rotation. A session
    /// remembers the generation it was signed in with.
    pub token_generation: i64,
}

impl ManagerStanding {
    /// Whether the manager's current API token is accepted: not once the manager is disabled.
    pub fn accepts_token(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// Whether a dashboard session signed in with the token of `session_generation` still
    /// stands: it ends at once when the manager is disabled or its token is rotated.
    pub fn session_stands(&self, session_generation: i64) -> bool {
        self.accepts_token() && session_generation == self.token_generation
    }

    /// Whether a dashboard session still lets its manager in at `now`: it stands (see
    /// [`ManagerStanding::session_stands`]) and was used within the last
    /// [`SESSION_IDLE_SECONDS`].
    pub fn session_active(
        &self,
        session_generation: i64,
        last_seen: Timestamp,
        now: Timestamp,
    ) -> bool {
        self.session_stands(session_generation)
            && now < last_seen.plus_seconds(SESSION_IDLE_SECONDS)
    }

    /// Rotating the token: the next generation; the standing is otherwise unchanged.
    pub fn rotated(self) -> ManagerStanding {
        ManagerStanding {
            token_generation: self.token_generation.saturating_add(1),
            ..self
        }
    }

    /// Disabling the manager: the first time counts, a repeat changes nothing.
    pub fn disabled(self, now: Timestamp) -> ManagerStanding {
        ManagerStanding {
            disabled_at: Some(self.disabled_at.unwrap_or(now)),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_763_000_000);

    #[test]
    fn an_api_secret_rotation_revokes_the_tokens_bought_with_it() {
        let rotation = ApiSecretRotation::at(NOW);
        assert_eq!(rotation.at, NOW);
        assert!(rotation.revokes_bearer_tokens);
    }

    #[test]
    fn the_previous_callback_secret_signs_for_exactly_a_day() {
        let rotation = CallbackSecretRotation::at(NOW);
        assert_eq!(rotation.previous_until, NOW.plus_seconds(86_400));
        assert!(previous_callback_secret_signs(rotation.previous_until, NOW));
        assert!(previous_callback_secret_signs(
            rotation.previous_until,
            NOW.plus_seconds(86_399)
        ));
        assert!(!previous_callback_secret_signs(
            rotation.previous_until,
            NOW.plus_seconds(86_400)
        ));
        assert!(!previous_callback_secret_signs(
            rotation.previous_until,
            NOW.plus_seconds(90_000)
        ));
    }

    #[test]
    fn disabling_or_rotating_ends_a_managers_sessions() {
        let standing = ManagerStanding {
            disabled_at: None,
            token_generation: 1,
        };
        assert!(standing.accepts_token());
        assert!(standing.session_stands(1));
        let rotated = standing.rotated();
        assert_eq!(rotated.token_generation, 2);
        assert!(rotated.accepts_token(), "the new token works");
        assert!(
            !rotated.session_stands(1),
            "a session of the old token ends"
        );
        assert!(rotated.session_stands(2));
        let disabled = rotated.disabled(NOW);
        assert!(!disabled.accepts_token());
        assert!(!disabled.session_stands(2));
        assert_eq!(
            disabled.disabled(NOW.plus_seconds(60)).disabled_at,
            Some(NOW),
            "disabling again keeps the first time"
        );
        assert!(
            !disabled.rotated().accepts_token(),
            "a rotation does not enable a disabled manager"
        );
    }
}
