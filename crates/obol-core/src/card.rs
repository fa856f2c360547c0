//! Card numbers as the hosted page receives them: checked (Luhn), classified (brand, issuer)
//! and reduced to what may be kept. A [`CardNumber`] never prints its digits; only
//! [`CardNumber::payload`] leaves this module, holding first 6 / last 4.

use std::fmt;

use crate::payment::CardPayload;

/// Shortest and longest card numbers accepted (ISO/IEC 7812).
const PAN_LENGTH_MIN: usize = 12;
const PAN_LENGTH_MAX: usize = 19;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the card number is invalid")]
    InvalidNumber,
    #[error("the expiry date is invalid (MM/YY)")]
    InvalidExpiry,
    #[error("the security code is invalid")]
    InvalidSecurityCode,
    #[error("the card holder's name is too long")]
    InvalidHolder,
}

/// A card number that passed the Luhn check. Its digits stay in memory only.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl fmt::Debug for CardNumber {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CardNumber({})", self.masked())
    }
}

/// The Luhn checksum of a string of digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (index, byte) in digits.bytes().rev().enumerate() {
        let mut digit = u32::from(byte - b'0');
        if index % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    sum.is_multiple_of(10)
}

impl CardNumber {
    /// Parses a number as people type it: spaces and dashes are ignored.
    pub fn parse(text: &str) -> Result<CardNumber, CardError> {
        let digits: String = text
            .chars()
            .filter(|character| !matches!(character, ' ' | '-'))
            .collect();
        if !(PAN_LENGTH_MIN..=PAN_LENGTH_MAX).contains(&digits.len())
            || !digits.bytes().all(|byte| byte.is_ascii_digit())
            || !luhn_valid(&digits)
        {
            return Err(CardError::InvalidNumber);
        }
        Ok(CardNumber(digits))
    }

    /// The digits, for the acquirer's decision only.
    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn first6(&self) -> &str {
        &self.0[..6]
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// `424242******4242`.
    pub fn masked(&self) -> String {
        format!("{}******{}", self.first6(), self.last4())
    }

    /// The brand from the number's prefix.
    pub fn brand(&self) -> &'static str {
        brand_of(&self.0)
    }

    /// What may be kept of the card.
    pub fn payload(&self, expiry: CardExpiry, holder: Option<String>) -> CardPayload {
        CardPayload {
            first6: self.first6().to_owned(),
            last4: self.last4().to_owned(),
            brand: self.brand().to_owned(),
            expiry_month: expiry.month,
            expiry_year: expiry.year,
            holder,
            issuer: Some(issuer_of(self.brand()).to_owned()),
        }
    }
}

fn prefix_number(digits: &str, length: usize) -> u32 {
    digits
        .get(..length)
        .and_then(|prefix| prefix.parse().ok())
        .unwrap_or(0)
}

/// Brand by prefix: Visa 4, Mastercard 51–55 and 2221–2720, Mir 2200–2204, American Express
/// 34/37, UnionPay 62, JCB 3528–3589, Maestro 50/56–69, Discover 6011/65.
pub fn brand_of(digits: &str) -> &'static str {
    let two = prefix_number(digits, 2);
    let four = prefix_number(digits, 4);
    match () {
        _ if digits.starts_with('4') => "visa",
        _ if (2200..=2204).contains(&four) => "mir",
        _ if (51..=55).contains(&two) || (2221..=2720).contains(&four) => "mastercard",
        _ if two == 34 || two == 37 => "amex",
        _ if (3528..=3589).contains(&four) => "jcb",
        _ if four == 6011 || two == 65 => "discover",
        _ if two == 62 => "unionpay",
        _ if two == 50 || (56..=69).contains(&two) => "maestro",
        _ => "unknown",
    }
}

/// The brand a number as typed shows (spaces and dashes allowed, Luhn not checked), so a form
/// refused for any reason can say which card it recognised; `None` when the text is not
/// digits or its prefix is no brand's. The number itself is never said back.
pub fn brand_of_typed(text: &str) -> Option<&'static str> {
    let digits: String = text
        .chars()
        .filter(|character| !matches!(character, ' ' | '-'))
        .take(PAN_LENGTH_MAX + 1)
        .collect();
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(brand_of(&digits)).filter(|brand| *brand != "unknown")
}

/// The sandbox's issuer name for a brand.
pub fn issuer_of(brand: &str) -> &'static str {
    match brand {
        "visa" => "OBOL SANDBOX BANK (VISA)",
        "mastercard" => "OBOL SANDBOX BANK (MASTERCARD)",
        "mir" => "OBOL SANDBOX BANK (MIR)",
        _ => "OBOL SANDBOX BANK",
    }
}

/// A card's expiry month and year (four digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardExpiry {
    pub month: u8,
    pub year: u16,
}

impl CardExpiry {
    /// Parses `MM/YY` (also `MM/YYYY`, spaces allowed around the slash).
    pub fn parse(text: &str) -> Result<CardExpiry, CardError> {
        let (month, year) = text.split_once('/').ok_or(CardError::InvalidExpiry)?;
        let (month, year) = (month.trim(), year.trim());
        if month.is_empty() || month.len() > 2 || !(year.len() == 2 || year.len() == 4) {
            return Err(CardError::InvalidExpiry);
        }
        let month: u8 = month.parse().map_err(|_| CardError::InvalidExpiry)?;
        let year: u16 = year.parse().map_err(|_| CardError::InvalidExpiry)?;
        if !(1..=12).contains(&month) {
            return Err(CardError::InvalidExpiry);
        }
        Ok(CardExpiry {
            month,
            year: if year < 100 { 2000 + year } else { year },
        })
    }

    /// Whether the card still works in the given month (it is valid through its last day).
    pub fn is_valid_in(self, year: i64, month: u32) -> bool {
        (i64::from(self.year), u32::from(self.month)) >= (year, month)
    }
}

/// Checks a security code: 3 or 4 digits. It is used for nothing else and kept nowhere.
pub fn check_security_code(text: &str) -> Result<(), CardError> {
    if (3..=4).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardError::InvalidSecurityCode)
    }
}

/// Longest card holder name kept.
pub const HOLDER_LENGTH_MAX: usize = 64;

#[cfg(test)]
mod tests {
    #[test]
    fn brand_of_a_typed_number() {
        assert_eq!(brand_of_typed("4242 4242 4242 4241"), Some("visa"));
        assert_eq!(brand_of_typed("2200-0000"), Some("mir"));
        assert_eq!(brand_of_typed("5555"), Some("mastercard"));
        assert_eq!(brand_of_typed("1234"), None);
        assert_eq!(brand_of_typed("4x42"), None);
        assert_eq!(brand_of_typed(""), None);
    }

    use super::*;

    #[test]
    fn luhn_and_brands() {
        assert!(CardNumber::parse("4242 4242 4242 4242").is_ok());
        assert!(CardNumber::parse("4242424242424241").is_err());
        assert!(CardNumber::parse("abcd").is_err());
        assert_eq!(
            CardNumber::parse("5555555555554444").unwrap().brand(),
            "mastercard"
        );
        assert_eq!(
            CardNumber::parse("2221000000000009").unwrap().brand(),
            "mastercard"
        );
        assert_eq!(brand_of("2200123412341234"), "mir");
        assert_eq!(brand_of("378282246310005"), "amex");
        assert_eq!(
            CardNumber::parse("4000000000003220").unwrap().brand(),
            "visa"
        );
    }

    #[test]
    fn numbers_never_print() {
        let number = CardNumber::parse("4242424242424242").unwrap();
        assert_eq!(format!("{number:?}"), "CardNumber(424242******4242)");
        let payload = number.payload(CardExpiry::parse("12/30").unwrap(), None);
        assert_eq!(
            (
                payload.first6.as_str(),
                payload.last4.as_str(),
                payload.expiry_year
            ),
            ("424242", "4242", 2030)
        );
    }

    #[test]
    fn expiry_dates() {
        assert_eq!(
            CardExpiry::parse("12/30").unwrap(),
            CardExpiry {
                month: 12,
                year: 2030
            }
        );
        assert_eq!(
            CardExpiry::parse("01 / 2031").unwrap(),
            CardExpiry {
                month: 1,
                year: 2031
            }
        );
        for bad in ["13/30", "00/30", "1230", "12/3", "aa/bb", ""] {
            assert!(CardExpiry::parse(bad).is_err(), "{bad:?}");
        }
        let expiry = CardExpiry::parse("05/26").unwrap();
        assert!(expiry.is_valid_in(2026, 5));
        assert!(!expiry.is_valid_in(2026, 6));
    }

    #[test]
    fn security_codes() {
        assert!(check_security_code("123").is_ok());
        assert!(check_security_code("1234").is_ok());
        assert!(check_security_code("12").is_err());
        assert!(check_security_code("12a").is_err());
    }
}
