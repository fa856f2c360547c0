//! Identifiers: random, prefixed ids (`cpi_…`, `cus_…`), numeric sequence numbers, receipt ids
//! and UUIDs. Randomness comes from an injected [`RandomSource`] (the core does no I/O).

use std::fmt;

use crate::error::{Coded, ErrorCode, codes};

/// A source of random bytes; the server passes the operating system's CSPRNG.
pub trait RandomSource {
    fn fill_bytes(&mut self, buffer: &mut [u8]);
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE36_UPPER: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `length` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_string(random: &mut dyn RandomSource, alphabet: &[u8], length: usize) -> String {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(length);
    let mut buffer = [0u8; 64];
    while out.len() < length {
        random.fill_bytes(&mut buffer);
        for &byte in &buffer {
            if (byte as usize) < limit && out.len() < length {
                out.push(alphabet[byte as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

pub fn random_base62(random: &mut dyn RandomSource, length: usize) -> String {
    random_string(random, BASE62, length)
}

fn is_base62(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed identifier")]
pub struct IdError;

impl Coded for IdError {
    fn code(&self) -> ErrorCode {
        codes::ID_MALFORMED
    }
}

/// Length of the random part of prefixed ids (16 base62 characters, about 95 bits).
pub const PREFIXED_ID_RANDOM_LENGTH: usize = 16;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(random: &mut dyn RandomSource) -> $name {
                $name(format!("{}{}", $prefix, random_base62(random, PREFIXED_ID_RANDOM_LENGTH)))
            }

            pub fn parse(text: &str) -> Result<$name, IdError> {
                let rest = text.strip_prefix($prefix).ok_or(IdError)?;
                if rest.len() != PREFIXED_ID_RANDOM_LENGTH || !is_base62(rest) {
                    return Err(IdError);
                }
                Ok($name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The random part without the prefix (Paymega's `serial_number`).
            pub fn serial(&self) -> &str {
                &self.0[$prefix.len()..]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// A payment's id: `cpi_` + 16 base62 characters.
    PaymentId,
    "cpi_"
);
prefixed_id!(
    /// A merchant's customer (a Paymega `customer` object): `cus_` + 16 base62 characters.
    CustomerId,
    "cus_"
);
prefixed_id!(
    /// A merchant's enabled payment service (Paymega's `comcps_…` list ids).
    MerchantServiceId,
    "comcps_"
);

impl MerchantServiceId {
    /// The id under which a live route's card service is listed for a merchant it serves: the
    /// route gives the service (SPEC §4), so no link is stored, and the id is derived from the
    /// pair so that every listing shows the same one.
    pub fn of_route_service(merchant: MerchantId, service: PaymentServiceId) -> MerchantServiceId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("route-service:{merchant}:{service}").as_bytes());
        let suffix: String = digest
            .iter()
            .take(PREFIXED_ID_RANDOM_LENGTH)
            .map(|byte| char::from(BASE62[usize::from(*byte) % BASE62.len()]))
            .collect();
        MerchantServiceId(format!("{}{suffix}", MerchantServiceId::PREFIX))
    }
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(value: i64) -> $name {
                $name(value)
            }

            /// Parses a positive decimal number as written in paths and flags.
            pub fn parse(text: &str) -> Result<$name, IdError> {
                if text.is_empty() || text.len() > 18 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(IdError);
                }
                let value: i64 = text.parse().map_err(|_| IdError)?;
                if value <= 0 {
                    return Err(IdError);
                }
                Ok($name(value))
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}", self.0)
            }
        }
    };
}

numeric_id!(
    /// A reseller; `1` is the operator's root.
    ResellerId
);
numeric_id!(
    /// A merchant (a shop with API credentials).
    MerchantId
);
numeric_id!(
    /// A manager (an employee of a reseller).
    ManagerId
);
numeric_id!(
    /// A payer account of a reseller (ActivePlatform's `account_id`).
    CustomerAccountId
);
numeric_id!(
    /// A P2P client's internal id (its public id is [`P2pClientKey`]).
    P2pClientId
);
numeric_id!(
    /// A payment's numeric id, unique and increasing (ActivePlatform's payment `id`).
    PaymentNumber
);
numeric_id!(
    /// A payment's document number, unique and increasing (ActivePlatform's `document_id`).
    DocumentNumber
);
numeric_id!(
    /// A payment's order number, unique and increasing (Softline's `order_id`).
    OrderNumber
);
numeric_id!(
    /// A payment method (ActivePlatform's `payment_method_id`).
    PaymentMethodId
);
numeric_id!(
    /// A payment service (a method in a currency with a flow).
    PaymentServiceId
);

/// The reseller every tree grows from, created by the first migration.
pub const ROOT_RESELLER: ResellerId = ResellerId::new(1);

/// A P2P receipt id: 12 characters of `[0-9A-Z]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ReceiptId(String);

impl ReceiptId {
    pub const LENGTH: usize = 12;

    pub fn generate(random: &mut dyn RandomSource) -> ReceiptId {
        ReceiptId(random_string(random, BASE36_UPPER, Self::LENGTH))
    }

    pub fn parse(text: &str) -> Result<ReceiptId, IdError> {
        if text.len() != Self::LENGTH
            || !text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase())
        {
            return Err(IdError);
        }
        Ok(ReceiptId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PaymentId {
    /// The id in a UUID's shape (`00000000-…`, 36 characters), for APIs whose clients insist
    /// on one (YooKassa's): the 16 base62 characters read as one number, in hex. Reversible by
    /// [`PaymentId::from_uuid_form`].
    pub fn uuid_form(&self) -> String {
        let value = self.serial().bytes().fold(0u128, |value, byte| {
            let digit = BASE62
                .iter()
                .position(|candidate| *candidate == byte)
                .unwrap_or(0);
            value * 62 + digit as u128
        });
        Uuid::from_u128(value).text
    }

    pub fn from_uuid_form(text: &str) -> Result<PaymentId, IdError> {
        let mut value = Uuid::parse(text)?.as_u128();
        let mut digits = [b'0'; PREFIXED_ID_RANDOM_LENGTH];
        for slot in digits.iter_mut().rev() {
            *slot = BASE62[(value % 62) as usize];
            value /= 62;
        }
        if value != 0 {
            return Err(IdError);
        }
        PaymentId::parse(&format!("cpi_{}", String::from_utf8_lossy(&digits)))
    }
}

/// A random (version 4) UUID in its hyphenated lower-case form. The bits, the formatting and
/// the parsing are the `uuid` crate's; the randomness still comes from the injected
/// [`RandomSource`], so tests stay deterministic and the core does no I/O.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Uuid {
    value: uuid::Uuid,
    /// The hyphenated lower-case text, kept so that `as_str` can lend it.
    text: String,
}

impl fmt::Debug for Uuid {
    /// As the derived `Debug` of the former `Uuid(String)` wrote it (`Uuid("…")`).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("Uuid").field(&self.text).finish()
    }
}

/// Length of a hyphenated UUID (`8-4-4-4-12` hex digits).
const UUID_HYPHENATED_LENGTH: usize = 36;

impl Uuid {
    pub fn generate_v4(random: &mut dyn RandomSource) -> Uuid {
        let mut bytes = [0u8; 16];
        random.fill_bytes(&mut bytes);
        Uuid::from_crate(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The hyphenated form only, in either case (kept lower-case): the crate also reads the
    /// simple, braced and URN forms, which no Obol API has ever accepted.
    pub fn parse(text: &str) -> Result<Uuid, IdError> {
        if text.len() != UUID_HYPHENATED_LENGTH {
            return Err(IdError);
        }
        uuid::Uuid::try_parse(text)
            .map(Uuid::from_crate)
            .map_err(|_| IdError)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 128 bits, most significant first.
    pub fn as_u128(&self) -> u128 {
        self.value.as_u128()
    }

    /// The UUID whose 128 bits are `value` (any version: [`PaymentId::uuid_form`] uses it).
    fn from_u128(value: u128) -> Uuid {
        Uuid::from_crate(uuid::Uuid::from_u128(value))
    }

    fn from_crate(value: uuid::Uuid) -> Uuid {
        Uuid {
            value,
            text: value.hyphenated().to_string(),
        }
    }
}

/// A P2P client's public id (`clientId`), a UUID.
pub type P2pClientKey = Uuid;

#[cfg(test)]
pub(crate) mod test_random {
    use super::RandomSource;

    /// A deterministic generator for tests (xorshift).
    pub struct TestRandom(pub u64);

    impl RandomSource for TestRandom {
        fn fill_bytes(&mut self, buffer: &mut [u8]) {
            for byte in buffer {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *byte = self.0 as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_random::TestRandom;
    use super::*;

    #[test]
    fn payment_ids_have_prefix_and_sixteen_base62() {
        let mut random = TestRandom(7);
        let id = PaymentId::generate(&mut random);
        assert!(id.as_str().starts_with("cpi_"));
        assert_eq!(id.serial().len(), 16);
        assert_eq!(PaymentId::parse(id.as_str()).unwrap(), id);
        assert!(PaymentId::parse("cpi_short").is_err());
        assert!(PaymentId::parse("cus_0123456789abcdef").is_err());
        assert!(PaymentId::parse("cpi_0123456789abcde!").is_err());
        assert!(
            CustomerId::generate(&mut random)
                .as_str()
                .starts_with("cus_")
        );
    }

    #[test]
    fn ids_differ() {
        let mut random = TestRandom(99);
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| PaymentId::generate(&mut random).to_string())
            .collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn a_route_service_link_is_derived_from_its_pair() {
        let link =
            MerchantServiceId::of_route_service(MerchantId::new(5), PaymentServiceId::new(9));
        assert_eq!(
            link,
            MerchantServiceId::of_route_service(MerchantId::new(5), PaymentServiceId::new(9)),
            "every listing shows the same id"
        );
        assert!(link.as_str().starts_with("comcps_"));
        assert_eq!(MerchantServiceId::parse(link.as_str()), Ok(link.clone()));
        let mut links = std::collections::HashSet::new();
        for merchant in 1..=40 {
            for service in 1..=40 {
                let link = MerchantServiceId::of_route_service(
                    MerchantId::new(merchant),
                    PaymentServiceId::new(service),
                );
                assert!(MerchantServiceId::parse(link.as_str()).is_ok(), "{link}");
                links.insert(link);
            }
        }
        assert_eq!(links.len(), 40 * 40, "one link per (merchant, service)");
        // The pair is ordered: merchant 5's service 9 is not merchant 9's service 5.
        assert_ne!(
            link,
            MerchantServiceId::of_route_service(MerchantId::new(9), PaymentServiceId::new(5))
        );
    }

    #[test]
    fn receipt_ids_are_twelve_upper_alphanumerics() {
        let receipt = ReceiptId::generate(&mut TestRandom(3));
        assert_eq!(receipt.as_str().len(), 12);
        assert!(ReceiptId::parse(receipt.as_str()).is_ok());
        assert!(ReceiptId::parse("abcdefghijkl").is_err());
    }

    #[test]
    fn numeric_ids_parse_positive_decimals_only() {
        assert_eq!(ResellerId::parse("42").unwrap().get(), 42);
        for bad in ["0", "-1", "", "1.5", "99999999999999999999", " 1"] {
            assert!(ResellerId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn payment_ids_have_a_reversible_uuid_form() {
        let mut random = TestRandom(11);
        for _ in 0..100 {
            let id = PaymentId::generate(&mut random);
            let form = id.uuid_form();
            assert_eq!(form.len(), 36);
            assert!(Uuid::parse(&form).is_ok());
            assert_eq!(PaymentId::from_uuid_form(&form).unwrap(), id);
        }
        assert!(PaymentId::from_uuid_form("ffffffff-ffff-ffff-ffff-ffffffffffff").is_err());
    }

    /// The hand-written generator the crate replaced, kept to prove the output is unchanged.
    fn former_v4(random: &mut dyn RandomSource) -> String {
        let mut bytes = [0u8; 16];
        random.fill_bytes(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    #[test]
    fn uuids_are_what_the_former_generator_made() {
        for seed in 1..200 {
            assert_eq!(
                Uuid::generate_v4(&mut TestRandom(seed)).as_str(),
                former_v4(&mut TestRandom(seed))
            );
        }
    }

    #[test]
    fn uuids_parse_in_the_hyphenated_form_only() {
        let cases = [
            ("0f8fad5b-d9cb-469f-a165-70867728950e", true),
            ("0F8FAD5B-D9CB-469F-A165-70867728950E", true),
            ("00000000-0000-0000-0000-000000000000", true),
            ("0f8fad5bd9cb469fa16570867728950e", false),
            ("{0f8fad5b-d9cb-469f-a165-70867728950e}", false),
            ("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", false),
            ("0f8fad5b-d9cb-469f-a165-70867728950", false),
            ("0f8fad5b-d9cb-469f-a165-70867728950g", false),
            ("0f8fad5bd-9cb-469f-a165-70867728950e", false),
            ("0f8fad5b-d9cb-469f-a165-70867728950é", false),
            ("", false),
        ];
        for (text, valid) in cases {
            let parsed = Uuid::parse(text);
            assert_eq!(parsed.is_ok(), valid, "{text}");
            if let Ok(uuid) = parsed {
                assert_eq!(uuid.as_str(), text.to_ascii_lowercase());
                assert_eq!(format!("{uuid:?}"), format!("Uuid({:?})", uuid.as_str()));
            }
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let uuid = Uuid::generate_v4(&mut TestRandom(5));
        assert_eq!(uuid.as_str().len(), 36);
        assert_eq!(&uuid.as_str()[14..15], "4");
        assert!(Uuid::parse(uuid.as_str()).is_ok());
        assert!(Uuid::parse("not-a-uuid").is_err());
    }
}
