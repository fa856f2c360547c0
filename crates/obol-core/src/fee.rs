//! Fees of a payment service: a percentage, a fixed part, a minimum and a maximum.

use crate::error::{Coded, ErrorCode, codes};
use crate::money::{Money, MoneyError};

/// A percentage with up to four decimals, held as an integer (2.5 % is 25_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeRate {
    percent_e4: u32,
}

/// Largest rate accepted: 100 %.
const RATE_PERCENT_E4_MAX: u32 = 100 * 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("fee rate must be a percentage between 0 and 100 with at most four decimals")]
    InvalidRate,
    #[error("fee amounts must be non-negative and in the service's currency")]
    InvalidAmount,
}

impl Coded for FeeError {
    fn code(&self) -> ErrorCode {
        codes::FIELD_INVALID
    }
}

impl FeeRate {
    pub fn from_percent_e4(percent_e4: u32) -> Result<FeeRate, FeeError> {
        if percent_e4 > RATE_PERCENT_E4_MAX {
            return Err(FeeError::InvalidRate);
        }
        Ok(FeeRate { percent_e4 })
    }

    /// Parses a percentage written as decimal text (`2.5`, `0`, `1.2345`).
    pub fn parse_percent(text: &str) -> Result<FeeRate, FeeError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 3
            || fraction.len() > 4
            || !digits_only(whole)
            || !digits_only(fraction)
        {
            return Err(FeeError::InvalidRate);
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(FeeError::InvalidRate);
        }
        let whole: u32 = whole.parse().map_err(|_| FeeError::InvalidRate)?;
        let fraction_value: u32 = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<4}")
                .parse()
                .map_err(|_| FeeError::InvalidRate)?
        };
        FeeRate::from_percent_e4(whole * 10_000 + fraction_value)
    }

    pub fn percent_e4(self) -> u32 {
        self.percent_e4
    }

    /// The rate as decimal text without trailing zeros (`2.5`, `0`).
    pub fn to_percent_string(self) -> String {
        let whole = self.percent_e4 / 10_000;
        let fraction = format!("{:04}", self.percent_e4 % 10_000);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        }
    }
}

/// How a service charges: `rate` of the amount plus `fixed`, then at least `min` and, when
/// `max` is positive, at most `max`. All amounts in minor units of the service's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    pub rate: FeeRate,
    pub fixed_minor: i64,
    pub min_minor: i64,
    /// Zero means "no maximum", as the seed systems write it.
    pub max_minor: i64,
}

/// A computed fee and what remains for the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBreakdown {
    pub fee: Money,
    pub deposit: Money,
}

impl FeeSchedule {
    pub fn free() -> FeeSchedule {
        FeeSchedule::default()
    }

    pub fn validate(&self) -> Result<(), FeeError> {
        if self.fixed_minor < 0 || self.min_minor < 0 || self.max_minor < 0 {
            return Err(FeeError::InvalidAmount);
        }
        if self.max_minor > 0 && self.min_minor > self.max_minor {
            return Err(FeeError::InvalidAmount);
        }
        Ok(())
    }

    /// The fee on `amount`, rounded half-up to the minor unit, then bounded by min and max and
    /// never more than the amount itself (so the deposit is never negative).
    pub fn compute(&self, amount: Money) -> Result<FeeBreakdown, MoneyError> {
        let magnitude = i128::from(amount.minor().max(0));
        let percentage = (magnitude * i128::from(self.rate.percent_e4) + 500_000) / 1_000_000;
        let mut fee = percentage + i128::from(self.fixed_minor);
        fee = fee.max(i128::from(self.min_minor));
        if self.max_minor > 0 {
            fee = fee.min(i128::from(self.max_minor));
        }
        fee = fee.min(magnitude);
        let fee = Money::from_minor(
            i64::try_from(fee).map_err(|_| MoneyError::OutOfRange)?,
            amount.currency(),
        )?;
        let deposit = amount.checked_sub(fee)?;
        Ok(FeeBreakdown { fee, deposit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::Currency;
    use proptest::prelude::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD).unwrap()
    }

    #[test]
    fn rates_parse_from_percent_text() {
        assert_eq!(FeeRate::parse_percent("2.5").unwrap().percent_e4(), 25_000);
        assert_eq!(FeeRate::parse_percent("0").unwrap().percent_e4(), 0);
        assert_eq!(
            FeeRate::parse_percent("1.2345").unwrap().percent_e4(),
            12_345
        );
        assert_eq!(
            FeeRate::parse_percent("100").unwrap().to_percent_string(),
            "100"
        );
        assert_eq!(
            FeeRate::parse_percent("2.50").unwrap().to_percent_string(),
            "2.5"
        );
        for bad in ["", "1.", ".5", "101", "1.23456", "-1", "a"] {
            assert!(FeeRate::parse_percent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fee_rounds_half_up() {
        let schedule = FeeSchedule {
            rate: FeeRate::parse_percent("2.5").unwrap(),
            ..FeeSchedule::free()
        };
        // 2.5 % of 0.10 is 0.0025 -> 0.00; of 0.20 is 0.005 -> 0.01 (half up); of 0.30 is 0.0075 -> 0.01
        assert_eq!(schedule.compute(usd(10)).unwrap().fee.minor(), 0);
        assert_eq!(schedule.compute(usd(20)).unwrap().fee.minor(), 1);
        assert_eq!(schedule.compute(usd(30)).unwrap().fee.minor(), 1);
        assert_eq!(schedule.compute(usd(10_000)).unwrap().fee.minor(), 250);
    }

    #[test]
    fn fee_honours_fixed_min_and_max() {
        let schedule = FeeSchedule {
            rate: FeeRate::parse_percent("1").unwrap(),
            fixed_minor: 30,
            min_minor: 50,
            max_minor: 500,
        };
        assert_eq!(
            schedule.compute(usd(100)).unwrap().fee.minor(),
            50,
            "min applies"
        );
        assert_eq!(schedule.compute(usd(10_000)).unwrap().fee.minor(), 130);
        let big = schedule.compute(usd(1_000_000)).unwrap();
        assert_eq!(big.fee.minor(), 500, "max applies");
        assert_eq!(big.deposit.minor(), 999_500);
        assert_eq!(
            schedule.compute(usd(20)).unwrap().fee.minor(),
            20,
            "never more than the amount"
        );
    }

    #[test]
    fn schedules_validate() {
        assert!(
            FeeSchedule {
                min_minor: 10,
                max_minor: 5,
                ..FeeSchedule::free()
            }
            .validate()
            .is_err()
        );
        assert!(
            FeeSchedule {
                fixed_minor: -1,
                ..FeeSchedule::free()
            }
            .validate()
            .is_err()
        );
        assert!(FeeSchedule::free().validate().is_ok());
    }

    proptest! {
        #[test]
        fn fee_plus_deposit_is_the_amount(minor in 0i64..1_000_000_000_000, rate in 0u32..=1_000_000, fixed in 0i64..10_000, min in 0i64..10_000) {
            let schedule = FeeSchedule { rate: FeeRate::from_percent_e4(rate).unwrap(), fixed_minor: fixed, min_minor: min, max_minor: 0 };
            let breakdown = schedule.compute(usd(minor)).unwrap();
            prop_assert_eq!(breakdown.fee.minor() + breakdown.deposit.minor(), minor);
            prop_assert!(breakdown.fee.minor() >= 0 && breakdown.deposit.minor() >= 0);
        }
    }
}
