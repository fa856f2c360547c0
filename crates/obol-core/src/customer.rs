//! A merchant's customer: the Paymega `customer` object, kept as `cus_…` and found again by
//! the merchant's `reference_id` for it.

use crate::ids::{CustomerId, MerchantId};
use crate::time::Timestamp;

/// Longest text accepted in one customer field.
pub const CUSTOMER_FIELD_LENGTH_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub full_address: Option<String>,
    pub postcode: Option<String>,
}

/// What a request says about its customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerDraft {
    pub reference_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// JSON text, stored and returned as given.
    pub metadata: Option<String>,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub merchant_id: MerchantId,
    pub reference_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub metadata: Option<String>,
    pub address: Address,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Customer {
    /// A stored customer updated with what a new request says: given fields replace the old
    /// ones, absent fields keep them.
    pub fn merged(mut self, draft: CustomerDraft, now: Timestamp) -> Customer {
        fn take(old: &mut Option<String>, new: Option<String>) {
            if new.is_some() {
                *old = new;
            }
        }
        take(&mut self.name, draft.name);
        take(&mut self.email, draft.email);
        take(&mut self.phone, draft.phone);
        take(&mut self.metadata, draft.metadata);
        take(&mut self.address.country, draft.address.country);
        take(&mut self.address.region, draft.address.region);
        take(&mut self.address.city, draft.address.city);
        take(&mut self.address.full_address, draft.address.full_address);
        take(&mut self.address.postcode, draft.address.postcode);
        self.updated_at = now;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::test_random::TestRandom;

    #[test]
    fn merging_keeps_what_is_not_given() {
        let customer = Customer {
            id: CustomerId::generate(&mut TestRandom(1)),
            merchant_id: MerchantId::new(1),
            reference_id: "c1".into(),
            name: Some("John".into()),
            email: Some("john@example.com".into()),
            phone: None,
            metadata: None,
            address: Address::default(),
            created_at: Timestamp::from_unix_seconds(1),
            updated_at: Timestamp::from_unix_seconds(1),
        };
        let merged = customer.merged(
            CustomerDraft {
                reference_id: "c1".into(),
                phone: Some("+1".into()),
                ..CustomerDraft::default()
            },
            Timestamp::from_unix_seconds(2),
        );
        assert_eq!(merged.name.as_deref(), Some("John"));
        assert_eq!(merged.phone.as_deref(), Some("+1"));
        assert_eq!(merged.updated_at, Timestamp::from_unix_seconds(2));
    }
}
