//! Exact money: integer minor units of an ISO 4217 currency.
//!
//! Wire formats write amounts as decimal text (`100.55`, `"99.0"`, `1E+2`) or as integer minor
//! units (`200` kopecks). Both convert here, from the text, never through `f64`. More fraction
//! digits than the currency allows is an error: money is never rounded silently.

use std::fmt;

use crate::currency::{Currency, CurrencyError};
use crate::error::{Coded, ErrorCode, codes};

/// Largest magnitude of an amount in minor units (10^15). Far above any real payment and
/// 9,000 times below `i64::MAX`, so balances and report sums cannot overflow in practice.
pub const AMOUNT_MINOR_LIMIT: i64 = 1_000_000_000_000_000 / 1000;

/// An amount of money: minor units and their currency. Getters only.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    Malformed,
    #[error("more fraction digits than the currency allows")]
    TooPrecise,
    #[error("amount out of range")]
    OutOfRange,
    #[error("currencies differ")]
    CurrencyMismatch,
    #[error(transparent)]
    Currency(#[from] CurrencyError),
}

impl Coded for MoneyError {
    fn code(&self) -> ErrorCode {
        match self {
            MoneyError::Malformed => codes::AMOUNT_MALFORMED,
            MoneyError::TooPrecise => codes::AMOUNT_TOO_PRECISE,
            MoneyError::OutOfRange => codes::AMOUNT_OUT_OF_RANGE,
            MoneyError::CurrencyMismatch => codes::CURRENCY_MISMATCH,
            MoneyError::Currency(error) => error.code(),
        }
    }
}

/// How strictly [`Money::parse_decimal_with`] treats fraction digits beyond the currency's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Any digit beyond the currency's exponent is an error, zeros included (`1.000` USD).
    Strict,
    /// Extra digits are allowed when they are zeros (`99.0` JPY): the value is still exact.
    AllowTrailingZeros,
}

impl Money {
    /// Money from minor units; refuses currencies without a minor unit and absurd magnitudes.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        currency.exponent()?;
        if !(-AMOUNT_MINOR_LIMIT..=AMOUNT_MINOR_LIMIT).contains(&minor) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Result<Money, MoneyError> {
        Money::from_minor(0, currency)
    }

    /// Parses decimal text strictly: at most the currency's number of fraction digits.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        Money::parse_decimal_with(text, currency, Precision::Strict)
    }

    /// Parses decimal text (`-12.34`, `100`, `1.5E+2`, as JSON writes numbers) exactly.
    pub fn parse_decimal_with(
        text: &str,
        currency: Currency,
        precision: Precision,
    ) -> Result<Money, MoneyError> {
        let exponent = i32::from(currency.exponent()?);
        let decimal = Decimal::parse(text)?;
        // value = digits * 10^(shift), minor = value * 10^exponent
        let shift = decimal.power + exponent;
        let mut digits = decimal.digits;
        let minor_magnitude: i128 = if shift >= 0 {
            digits.extend(std::iter::repeat_n(0u8, shift as usize));
            to_integer(&digits)?
        } else {
            let cut = (-shift) as usize;
            let keep = digits.len().saturating_sub(cut);
            let dropped = &digits[keep..];
            let dropped_nonzero = dropped.iter().any(|&digit| digit != 0);
            match precision {
                Precision::Strict => return Err(MoneyError::TooPrecise),
                Precision::AllowTrailingZeros if dropped_nonzero => {
                    return Err(MoneyError::TooPrecise);
                }
                _ => {}
            }
            to_integer(&digits[..keep])?
        };
        let signed = if decimal.negative {
            -minor_magnitude
        } else {
            minor_magnitude
        };
        let minor = i64::try_from(signed).map_err(|_| MoneyError::OutOfRange)?;
        Money::from_minor(minor, currency)
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::OutOfRange)?;
        Money::from_minor(sum, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let difference = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::OutOfRange)?;
        Money::from_minor(difference, self.currency)
    }

    pub fn negated(self) -> Money {
        Money {
            minor: -self.minor,
            currency: self.currency,
        }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch)
        }
    }

    /// The amount as decimal text with exactly the currency's fraction digits (`100.50`, `5`).
    pub fn to_decimal_string(self) -> String {
        let exponent = self.currency.minor_unit().unwrap_or(0);
        format_minor(self.minor, exponent, usize::from(exponent))
    }

    /// The amount with trailing fraction zeros removed, keeping at least `min_fraction_digits`
    /// (`99.0` with 1, `100.55`, `100` with 0).
    pub fn to_decimal_trimmed(self, min_fraction_digits: usize) -> String {
        let exponent = self.currency.minor_unit().unwrap_or(0);
        format_minor(self.minor, exponent, min_fraction_digits)
    }
}

fn format_minor(minor: i64, exponent: u8, min_fraction_digits: usize) -> String {
    let exponent = usize::from(exponent);
    let magnitude = minor.unsigned_abs();
    let scale = 10u64.pow(exponent as u32);
    let whole = magnitude / scale;
    let mut fraction = if exponent == 0 {
        String::new()
    } else {
        format!("{:0width$}", magnitude % scale, width = exponent)
    };
    while fraction.len() > min_fraction_digits && fraction.ends_with('0') {
        fraction.pop();
    }
    while fraction.len() < min_fraction_digits {
        fraction.push('0');
    }
    let sign = if minor < 0 { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// Decimal text taken apart: value = digits × 10^power.
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    power: i32,
}

/// Longest decimal text accepted: bounds work on hostile input.
const DECIMAL_TEXT_MAX: usize = 64;

impl Decimal {
    fn parse(text: &str) -> Result<Decimal, MoneyError> {
        if text.is_empty() || text.len() > DECIMAL_TEXT_MAX {
            return Err(MoneyError::Malformed);
        }
        let bytes = text.as_bytes();
        let mut position = 0;
        let negative = bytes[0] == b'-';
        if negative {
            position += 1;
        }
        let integer_start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        let integer_part = &bytes[integer_start..position];
        if integer_part.is_empty() {
            return Err(MoneyError::Malformed);
        }
        let mut fraction_part: &[u8] = &[];
        if position < bytes.len() && bytes[position] == b'.' {
            position += 1;
            let fraction_start = position;
            while position < bytes.len() && bytes[position].is_ascii_digit() {
                position += 1;
            }
            fraction_part = &bytes[fraction_start..position];
            if fraction_part.is_empty() {
                return Err(MoneyError::Malformed);
            }
        }
        let mut power_of_ten: i32 = 0;
        if position < bytes.len() && (bytes[position] == b'e' || bytes[position] == b'E') {
            position += 1;
            let exponent_negative = match bytes.get(position) {
                Some(b'-') => {
                    position += 1;
                    true
                }
                Some(b'+') => {
                    position += 1;
                    false
                }
                _ => false,
            };
            let exponent_start = position;
            while position < bytes.len() && bytes[position].is_ascii_digit() {
                position += 1;
            }
            let exponent_text = &text[exponent_start..position];
            if exponent_text.is_empty() || exponent_text.len() > 3 {
                return Err(if exponent_text.is_empty() {
                    MoneyError::Malformed
                } else {
                    MoneyError::OutOfRange
                });
            }
            let value: i32 = exponent_text.parse().map_err(|_| MoneyError::Malformed)?;
            power_of_ten = if exponent_negative { -value } else { value };
        }
        if position != bytes.len() {
            return Err(MoneyError::Malformed);
        }
        let digits: Vec<u8> = integer_part
            .iter()
            .chain(fraction_part)
            .map(|byte| byte - b'0')
            .collect();
        Ok(Decimal {
            negative,
            digits,
            power: power_of_ten - fraction_part.len() as i32,
        })
    }
}

fn to_integer(digits: &[u8]) -> Result<i128, MoneyError> {
    let significant: &[u8] = match digits.iter().position(|&digit| digit != 0) {
        Some(first) => &digits[first..],
        None => return Ok(0),
    };
    if significant.len() > 30 {
        return Err(MoneyError::OutOfRange);
    }
    Ok(significant
        .iter()
        .fold(0i128, |value, &digit| value * 10 + i128::from(digit)))
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(text: &str) -> Result<i64, MoneyError> {
        Money::parse_decimal(text, Currency::USD).map(Money::minor)
    }

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!(usd("100.55"), Ok(10055));
        assert_eq!(usd("99.0"), Ok(9900));
        assert_eq!(usd("0.01"), Ok(1));
        assert_eq!(usd("100"), Ok(10000));
        assert_eq!(usd("-12.3"), Ok(-1230));
        assert_eq!(usd("1E+2"), Ok(10000));
        assert_eq!(usd("1.5e1"), Ok(1500));
        assert_eq!(usd("125e-2"), Ok(125));
        assert_eq!(usd("0.29"), Ok(29), "0.29 is 28.999… as a float");
    }

    #[test]
    fn refuses_extra_precision_and_malformed_text() {
        assert_eq!(usd("1.001"), Err(MoneyError::TooPrecise));
        assert_eq!(usd("1.000"), Err(MoneyError::TooPrecise));
        assert_eq!(usd("1e-3"), Err(MoneyError::TooPrecise));
        for text in [
            "", "-", ".5", "1.", "1,5", "+1", "1e", "0x10", " 1", "1 ", "NaN", "1.2.3",
        ] {
            assert_eq!(usd(text), Err(MoneyError::Malformed), "{text:?}");
        }
        assert_eq!(usd("1e999"), Err(MoneyError::OutOfRange));
        assert_eq!(usd("99999999999999999999999"), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn lenient_precision_allows_only_zeros() {
        let jpy = Currency::parse("JPY").unwrap();
        let parse = |text| {
            Money::parse_decimal_with(text, jpy, Precision::AllowTrailingZeros).map(Money::minor)
        };
        assert_eq!(parse("99.0"), Ok(99));
        assert_eq!(parse("99.5"), Err(MoneyError::TooPrecise));
        assert_eq!(
            Money::parse_decimal("99.0", jpy),
            Err(MoneyError::TooPrecise)
        );
    }

    #[test]
    fn exponents_follow_the_currency() {
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse_decimal("1.234", kwd).unwrap().minor(), 1234);
        assert_eq!(
            Money::from_minor(1234, kwd).unwrap().to_decimal_string(),
            "1.234"
        );
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::from_minor(500, jpy).unwrap().to_decimal_string(),
            "500"
        );
        assert!(Money::parse_decimal("1", Currency::parse("XAU").unwrap()).is_err());
    }

    #[test]
    fn formats_with_and_without_trailing_zeros() {
        let money = Money::from_minor(9900, Currency::USD).unwrap();
        assert_eq!(money.to_decimal_string(), "99.00");
        assert_eq!(money.to_decimal_trimmed(1), "99.0");
        assert_eq!(money.to_decimal_trimmed(0), "99");
        assert_eq!(
            Money::from_minor(-5, Currency::USD)
                .unwrap()
                .to_decimal_string(),
            "-0.05"
        );
        assert_eq!(
            Money::from_minor(10055, Currency::USD)
                .unwrap()
                .to_decimal_trimmed(0),
            "100.55"
        );
    }

    #[test]
    fn arithmetic_checks_currency() {
        let a = Money::from_minor(100, Currency::USD).unwrap();
        let b = Money::from_minor(100, Currency::EUR).unwrap();
        assert_eq!(a.checked_add(b), Err(MoneyError::CurrencyMismatch));
        assert_eq!(a.checked_sub(a).unwrap().minor(), 0);
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(minor in -AMOUNT_MINOR_LIMIT..=AMOUNT_MINOR_LIMIT, exponent_index in 0usize..4) {
            let currency = [Currency::USD, Currency::parse("JPY").unwrap(), Currency::parse("KWD").unwrap(), Currency::parse("CLF").unwrap()][exponent_index];
            let money = Money::from_minor(minor, currency).unwrap();
            let text = money.to_decimal_string();
            prop_assert_eq!(Money::parse_decimal(&text, currency).unwrap(), money);
            let trimmed = money.to_decimal_trimmed(0);
            prop_assert_eq!(Money::parse_decimal(&trimmed, currency).unwrap(), money);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = Money::parse_decimal(&text, Currency::USD);
        }

        #[test]
        fn integer_and_fraction_compose(whole in 0i64..1_000_000_000, cents in 0i64..100) {
            let text = format!("{whole}.{cents:02}");
            prop_assert_eq!(usd(&text).unwrap(), whole * 100 + cents);
        }
    }
}
