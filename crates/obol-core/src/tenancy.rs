//! Who is who: the reseller tree, managers and their roles, merchants, customer accounts and
//! P2P clients.

use std::fmt;

use crate::error::{Coded, ErrorCode, codes};
use crate::ids::{CustomerAccountId, ManagerId, MerchantId, P2pClientId, ResellerId};
use crate::time::Timestamp;

/// Longest name accepted for resellers, merchants, managers and accounts.
pub const NAME_LENGTH_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenancyError {
    #[error("name must be 1 to 255 characters and not blank")]
    InvalidName,
    #[error("unknown role (expected admin, manager or viewer)")]
    UnknownRole,
    #[error("reseller not found")]
    ResellerNotFound,
    #[error("merchant not found")]
    MerchantNotFound,
    #[error("outside the caller's scope")]
    OutOfScope,
    #[error("the role does not allow this action")]
    PermissionDenied,
}

impl Coded for TenancyError {
    fn code(&self) -> ErrorCode {
        match self {
            TenancyError::InvalidName => codes::FIELD_INVALID,
            TenancyError::UnknownRole => codes::ROLE_UNKNOWN,
            TenancyError::ResellerNotFound => codes::RESELLER_NOT_FOUND,
            TenancyError::MerchantNotFound => codes::MERCHANT_NOT_FOUND,
            TenancyError::OutOfScope => codes::OUT_OF_SCOPE,
            TenancyError::PermissionDenied => codes::PERMISSION_DENIED,
        }
    }
}

/// A display name: trimmed, 1–255 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(text: &str) -> Result<Name, TenancyError> {
        let trimmed = text.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > NAME_LENGTH_MAX
            || trimmed.chars().any(char::is_control)
        {
            return Err(TenancyError::InvalidName);
        }
        Ok(Name(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, formatter)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A reseller and its place in the tree. `ancestry` lists the ids from the root down to and
/// including this reseller, so scope checks need no further look-ups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseller {
    pub id: ResellerId,
    pub parent_id: Option<ResellerId>,
    pub name: Name,
    pub ancestry: Ancestry,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The path from the root to a reseller, root first, the reseller itself last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestry(Vec<ResellerId>);

impl Ancestry {
    pub fn root(id: ResellerId) -> Ancestry {
        Ancestry(vec![id])
    }

    /// The ancestry of a new child of the reseller with this ancestry.
    pub fn child(&self, id: ResellerId) -> Ancestry {
        let mut path = self.0.clone();
        path.push(id);
        Ancestry(path)
    }

    /// Encodes as `/1/2/5/`, a form whose prefixes select subtrees (`LIKE '/1/2/%'`).
    pub fn encode(&self) -> String {
        let mut text = String::from("/");
        for id in &self.0 {
            text.push_str(&id.to_string());
            text.push('/');
        }
        text
    }

    pub fn decode(text: &str) -> Option<Ancestry> {
        let inner = text.strip_prefix('/')?.strip_suffix('/')?;
        let ids: Option<Vec<ResellerId>> = inner
            .split('/')
            .map(|part| ResellerId::parse(part).ok())
            .collect();
        ids.filter(|ids| !ids.is_empty()).map(Ancestry)
    }

    pub fn ids(&self) -> &[ResellerId] {
        &self.0
    }

    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// Whether this reseller is `scope` or lies below it.
    pub fn is_within(&self, scope: ResellerId) -> bool {
        self.0.contains(&scope)
    }
}

impl Reseller {
    /// Whether this reseller is `scope` itself or one of its descendants, at any depth.
    pub fn is_within(&self, scope: ResellerId) -> bool {
        self.ancestry.is_within(scope)
    }
}

/// What a manager may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadPayments,
    CreatePayments,
    CompletePayments,
    RefundPayments,
    ManageManagers,
    ManageMerchants,
}

/// A manager's role, as the CLI and the APIs write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including managers and their tokens.
    Admin,
    /// Payments: read, create, complete, refund.
    Manager,
    /// Read only.
    Viewer,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role, TenancyError> {
        match text {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "viewer" => Ok(Role::Viewer),
            _ => Err(TenancyError::UnknownRole),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Viewer => "viewer",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Manager => matches!(
                permission,
                Permission::ReadPayments
                    | Permission::CreatePayments
                    | Permission::CompletePayments
                    | Permission::RefundPayments
            ),
            Role::Viewer => matches!(permission, Permission::ReadPayments),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub id: ManagerId,
    pub reseller_id: ResellerId,
    pub role: Role,
    pub name: Name,
    pub created_at: Timestamp,
}

/// What a manager is allowed to touch: a subtree of resellers, with a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerScope {
    pub manager_id: ManagerId,
    pub reseller_id: ResellerId,
    pub role: Role,
}

impl ManagerScope {
    /// Whether the manager is the operator's own (of the root reseller): only they see what
    /// belongs to no reseller — P2P clients and their transfers — and the clearing and fee
    /// accounts.
    pub fn is_operator(&self) -> bool {
        self.reseller_id == crate::ids::ROOT_RESELLER
    }

    /// Checks that `target` lies in the manager's subtree and the role allows `permission`.
    /// Out of scope is reported before the role, so nothing leaks about other subtrees.
    pub fn authorize(&self, target: &Ancestry, permission: Permission) -> Result<(), TenancyError> {
        if !target.is_within(self.reseller_id) {
            return Err(TenancyError::OutOfScope);
        }
        if !self.role.allows(permission) {
            return Err(TenancyError::PermissionDenied);
        }
        Ok(())
    }
}

/// A merchant: a shop that takes payments through the APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    pub reseller_id: ResellerId,
    pub name: Name,
    /// Created without `--live`: only sandbox services, every invoice a test invoice.
    pub test_mode: bool,
    pub public_key: String,
    pub api_login: String,
    pub settings: MerchantSettings,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerchantSettings {
    /// The public API and the HTML form may not create invoices.
    pub forbid_public_access: bool,
    /// Where callbacks go when a payment names no URL of its own.
    pub webhook_url: Option<String>,
    /// Locale of pages when neither the payment nor the browser says (`en`, `ru`, `uk`).
    pub default_locale: String,
    /// The live route (an `[[acquirers]]` name) that settles its live payments; `None`: the
    /// first route serving the payment's currency (SPEC §4).
    pub acquirer: Option<String>,
}

/// A payer account of a reseller (ActivePlatform's `account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccount {
    pub id: CustomerAccountId,
    pub reseller_id: ResellerId,
    pub name: Name,
    pub created_at: Timestamp,
}

/// A wallet or bank app using the P2P transfer API. Its public id (`clientId`, a
/// [`P2pClientKey`](crate::ids::P2pClientKey)) is its credential: it is stored only as a digest,
/// shown once when the client is created, and never read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pClient {
    pub id: P2pClientId,
    pub name: Name,
    pub require_signed_requests: bool,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(value: i64) -> ResellerId {
        ResellerId::new(value)
    }

    #[test]
    fn ancestry_scopes_any_depth() {
        let root = Ancestry::root(id(1));
        let child = root.child(id(2));
        let grandchild = child.child(id(5));
        let sibling = root.child(id(3));
        assert!(grandchild.is_within(id(1)));
        assert!(grandchild.is_within(id(2)));
        assert!(grandchild.is_within(id(5)));
        assert!(!grandchild.is_within(id(3)));
        assert!(
            !child.is_within(id(5)),
            "an ancestor is not within its descendant"
        );
        assert!(!sibling.is_within(id(2)));
        let deep = (2..200).fold(root.clone(), |path, next| path.child(id(next)));
        assert!(deep.is_within(id(100)));
        assert_eq!(deep.depth(), 199);
    }

    #[test]
    fn ancestry_encodes_for_prefix_queries() {
        let path = Ancestry::root(id(1)).child(id(2)).child(id(15));
        assert_eq!(path.encode(), "/1/2/15/");
        assert_eq!(Ancestry::decode("/1/2/15/"), Some(path));
        assert_eq!(Ancestry::decode("1/2"), None);
        assert_eq!(Ancestry::decode("//"), None);
    }

    #[test]
    fn roles_grant_what_they_say() {
        assert!(Role::Viewer.allows(Permission::ReadPayments));
        assert!(!Role::Viewer.allows(Permission::CompletePayments));
        assert!(Role::Manager.allows(Permission::RefundPayments));
        assert!(!Role::Manager.allows(Permission::ManageManagers));
        assert!(Role::Admin.allows(Permission::ManageManagers));
        assert_eq!(Role::parse("owner"), Err(TenancyError::UnknownRole));
        for role in [Role::Admin, Role::Manager, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
    }

    #[test]
    fn scope_is_checked_before_role() {
        let viewer = ManagerScope {
            manager_id: ManagerId::new(1),
            reseller_id: id(2),
            role: Role::Viewer,
        };
        let outside = Ancestry::root(id(1)).child(id(3));
        let inside = Ancestry::root(id(1)).child(id(2)).child(id(9));
        assert_eq!(
            viewer.authorize(&outside, Permission::CompletePayments),
            Err(TenancyError::OutOfScope)
        );
        assert_eq!(
            viewer.authorize(&inside, Permission::CompletePayments),
            Err(TenancyError::PermissionDenied)
        );
        assert_eq!(viewer.authorize(&inside, Permission::ReadPayments), Ok(()));
    }

    #[test]
    fn names_are_bounded() {
        assert!(Name::parse("  Shop  ").is_ok());
        assert_eq!(Name::parse("  Shop ").unwrap().as_str(), "Shop");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(256)).is_err());
        assert!(Name::parse("bad\nname").is_err());
    }
}
