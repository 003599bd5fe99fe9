//! US federal business days: observed holidays and business-day arithmetic.
//!
//! A business day is a Monday to Friday that is not an observed federal holiday.
//! The holiday rules are today's, applied to every year, so years before a holiday
//! was created or moved are not historically accurate. Juneteenth is the exception:
//! it counts only from 2021, the year it became a federal holiday.
//!
//! The checks are plain date arithmetic with no allocation, because simulators call
//! them millions of times.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// A holiday on the same month and day every year.
struct FixedHoliday {
    month: u32,
    day: u32,
    first_year: i32,
}

/// A holiday on the n-th (or last) given weekday of a month.
struct WeekdayHoliday {
    month: u32,
    weekday: Weekday,
    occurrence: Occurrence,
}

#[derive(Clone, Copy)]
enum Occurrence {
    Nth(u8),
    Last,
}

const FIXED_HOLIDAYS: [FixedHoliday; 5] = [
    // New Year's Day
    FixedHoliday {
        month: 1,
        day: 1,
        first_year: i32::MIN,
    },
    // Juneteenth National Independence Day
    FixedHoliday {
        month: 6,
        day: 19,
        first_year: 2021,
    },
    // Independence Day
    FixedHoliday {
        month: 7,
        day: 4,
        first_year: i32::MIN,
    },
    // Veterans Day
    FixedHoliday {
        month: 11,
        day: 11,
        first_year: i32::MIN,
    },
    // Christmas Day
    FixedHoliday {
        month: 12,
        day: 25,
        first_year: i32::MIN,
    },
];

const WEEKDAY_HOLIDAYS: [WeekdayHoliday; 6] = [
    // Birthday of Martin Luther King, Jr.
    WeekdayHoliday {
        month: 1,
        weekday: Weekday::Mon,
        occurrence: Occurrence::Nth(3),
    },
    // Washington's Birthday
    WeekdayHoliday {
        month: 2,
        weekday: Weekday::Mon,
        occurrence: Occurrence::Nth(3),
    },
    // Memorial Day
    WeekdayHoliday {
        month: 5,
        weekday: Weekday::Mon,
        occurrence: Occurrence::Last,
    },
    // Labor Day
    WeekdayHoliday {
        month: 9,
        weekday: Weekday::Mon,
        occurrence: Occurrence::Nth(1),
    },
    // Columbus Day
    WeekdayHoliday {
        month: 10,
        weekday: Weekday::Mon,
        occurrence: Occurrence::Nth(2),
    },
    // Thanksgiving Day
    WeekdayHoliday {
        month: 11,
        weekday: Weekday::Thu,
        occurrence: Occurrence::Nth(4),
    },
];

/// Returns the observed federal holidays that fall in `year`, in date order.
///
/// A fixed-date holiday on a Saturday is observed the Friday before, and one on a
/// Sunday the Monday after. Every returned date lies in `year`. When January 1 is a
/// Saturday, its observed day is December 31 of the year before, so the list for
/// 2021 ends with Friday 2021-12-31 and the list for 2022 has no New Year's Day.
pub fn federal_holidays(year: i32) -> Vec<NaiveDate> {
    let mut holidays: Vec<NaiveDate> = observed_holidays_in(year).collect();
    holidays.sort_unstable();
    holidays
}

/// Returns whether `date` is a Monday to Friday that is not an observed federal holiday.
pub fn is_business_day(date: NaiveDate) -> bool {
    match date.weekday() {
        Weekday::Sat | Weekday::Sun => false,
        _ => !is_observed_holiday(date),
    }
}

/// Returns the `n`-th business day after `date`, or `date` itself when `n` is 0.
///
/// `date` itself does not count, so adding 1 to a Friday before a normal weekend
/// gives the next Monday.
///
/// # Panics
///
/// Panics if the result is later than [`NaiveDate::MAX`]. Use
/// [`checked_add_business_days`] where that can happen.
pub fn add_business_days(date: NaiveDate, n: u32) -> NaiveDate {
    match checked_add_business_days(date, u64::from(n)) {
        Some(result) => result,
        None => panic!("adding {n} business days to {date} passes the latest date chrono supports"),
    }
}

/// Returns the `n`-th business day after `date`, or `None` past [`NaiveDate::MAX`].
///
/// The time grows with the number of years spanned, not with `n` itself, so large
/// counts stay cheap.
pub fn checked_add_business_days(date: NaiveDate, n: u64) -> Option<NaiveDate> {
    let mut current = date;
    let mut remaining = n;

    // Jump whole weeks first. A jump of w weeks passes at most 5w business days, and
    // w is chosen so that 5w < remaining. The result therefore lies after the jump
    // target, which may be a weekend day, and the walk below finds it. Each jump
    // spans at least two weeks, which hold 10 weekdays and at most two holidays, so
    // the loop always makes progress.
    while remaining > 10 {
        let weeks = (remaining - 1) / 5;
        let target = current.checked_add_days(Days::new(weeks.checked_mul(7)?))?;
        remaining -= business_days_in(current, target);
        current = target;
    }

    while remaining > 0 {
        current = current.succ_opt()?;
        if is_business_day(current) {
            remaining -= 1;
        }
    }
    Some(current)
}

/// Returns the number of business days after `from` up to and including `to`.
///
/// This is the inverse of [`add_business_days`]:
/// `business_days_between(d, add_business_days(d, n)) == n`. Returns 0 when `to`
/// is not later than `from`.
pub fn business_days_between(from: NaiveDate, to: NaiveDate) -> u32 {
    // The count cannot exceed u32::MAX inside chrono's date range of about 524,000
    // years, but saturate rather than panic if it ever could.
    u32::try_from(business_days_in(from, to)).unwrap_or(u32::MAX)
}

/// Counts the business days in (`from`, `to`].
fn business_days_in(from: NaiveDate, to: NaiveDate) -> u64 {
    if to <= from {
        return 0;
    }
    weekdays_in(from, to) - holidays_in(from, to)
}

/// Counts the days from Monday to Friday in (`from`, `to`], for `from` < `to`.
fn weekdays_in(from: NaiveDate, to: NaiveDate) -> u64 {
    let days = u64::try_from((to - from).num_days()).unwrap_or(0);
    let full_weeks = days / 7;
    let rest = days % 7;

    // The days after the full weeks have the same weekdays as the first `rest` days
    // after `from`.
    let first_weekday = u64::from(from.weekday().num_days_from_monday());
    let rest_weekdays = (1..=rest)
        .filter(|offset| (first_weekday + offset) % 7 < 5)
        .count() as u64;

    full_weeks * 5 + rest_weekdays
}

/// Counts the observed holidays in (`from`, `to`], for `from` < `to`.
///
/// Observed holidays always fall from Monday to Friday and never share a date, so
/// this count can be subtracted from the weekday count.
fn holidays_in(from: NaiveDate, to: NaiveDate) -> u64 {
    (from.year()..=to.year())
        .flat_map(observed_holidays_in)
        .filter(|holiday| from < *holiday && *holiday <= to)
        .count() as u64
}

/// Yields the observed holidays that fall in `year`, unsorted and without allocating.
fn observed_holidays_in(year: i32) -> impl Iterator<Item = NaiveDate> {
    let fixed = [year, year.saturating_add(1)]
        .into_iter()
        .flat_map(|holiday_year| {
            FIXED_HOLIDAYS
                .iter()
                .filter(move |holiday| holiday_year >= holiday.first_year)
                .filter_map(move |holiday| {
                    NaiveDate::from_ymd_opt(holiday_year, holiday.month, holiday.day)
                })
                .filter_map(observed_date)
        });
    let by_weekday = WEEKDAY_HOLIDAYS
        .iter()
        .filter_map(move |holiday| weekday_holiday_date(year, holiday));

    fixed
        .chain(by_weekday)
        .filter(move |date| date.year() == year)
}

/// Moves a Saturday holiday to the Friday before and a Sunday holiday to the Monday after.
fn observed_date(holiday: NaiveDate) -> Option<NaiveDate> {
    match holiday.weekday() {
        Weekday::Sat => holiday.pred_opt(),
        Weekday::Sun => holiday.succ_opt(),
        _ => Some(holiday),
    }
}

fn weekday_holiday_date(year: i32, holiday: &WeekdayHoliday) -> Option<NaiveDate> {
    match holiday.occurrence {
        Occurrence::Nth(n) => {
            NaiveDate::from_weekday_of_month_opt(year, holiday.month, holiday.weekday, n)
        }
        Occurrence::Last => {
            // The fifth occurrence exists in some months, otherwise the fourth is the last.
            NaiveDate::from_weekday_of_month_opt(year, holiday.month, holiday.weekday, 5).or_else(
                || NaiveDate::from_weekday_of_month_opt(year, holiday.month, holiday.weekday, 4),
            )
        }
    }
}

/// Returns whether a Monday to Friday `date` is an observed holiday, by arithmetic on
/// the date alone.
fn is_observed_holiday(date: NaiveDate) -> bool {
    if WEEKDAY_HOLIDAYS
        .iter()
        .any(|holiday| falls_on_weekday_holiday(date, holiday))
    {
        return true;
    }
    if is_fixed_holiday(date) {
        return true;
    }
    // A Friday is the observed day of a Saturday holiday, and a Monday of a Sunday one.
    match date.weekday() {
        Weekday::Fri => date.succ_opt().is_some_and(is_fixed_holiday),
        Weekday::Mon => date.pred_opt().is_some_and(is_fixed_holiday),
        _ => false,
    }
}

fn is_fixed_holiday(date: NaiveDate) -> bool {
    FIXED_HOLIDAYS.iter().any(|holiday| {
        date.month() == holiday.month
            && date.day() == holiday.day
            && date.year() >= holiday.first_year
    })
}

fn falls_on_weekday_holiday(date: NaiveDate, holiday: &WeekdayHoliday) -> bool {
    if date.month() != holiday.month || date.weekday() != holiday.weekday {
        return false;
    }
    match holiday.occurrence {
        Occurrence::Nth(n) => (date.day() - 1) / 7 + 1 == u32::from(n),
        // The last occurrence is the one with no same weekday a week later in the month.
        Occurrence::Last => date
            .checked_add_days(Days::new(7))
            .is_none_or(|week_later| week_later.month() != holiday.month),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("test dates are valid")
    }

    #[test]
    fn holidays_2026_match_published_dates() {
        let expected = vec![
            date(2026, 1, 1),
            date(2026, 1, 19),
            date(2026, 2, 16),
            date(2026, 5, 25),
            date(2026, 6, 19),
            date(2026, 7, 3), // July 4 is a Saturday
            date(2026, 9, 7),
            date(2026, 10, 12),
            date(2026, 11, 11),
            date(2026, 11, 26),
            date(2026, 12, 25),
        ];
        assert_eq!(federal_holidays(2026), expected);
    }

    #[test]
    fn thanksgiving_2026_is_november_26() {
        assert!(federal_holidays(2026).contains(&date(2026, 11, 26)));
        assert!(!is_business_day(date(2026, 11, 26)));
        assert!(is_business_day(date(2026, 11, 27)));
    }

    #[test]
    fn juneteenth_2027_observed_friday() {
        let holidays = federal_holidays(2027);
        assert!(holidays.contains(&date(2027, 6, 18)));
        assert!(!holidays.contains(&date(2027, 6, 19)));
        assert!(!is_business_day(date(2027, 6, 18)));
    }

    #[test]
    fn juneteenth_only_from_2021() {
        assert!(is_business_day(date(2020, 6, 19)));
        assert!(!federal_holidays(2020).iter().any(|d| d.month() == 6));
        // June 19, 2021 was a Saturday, observed Friday June 18.
        assert!(federal_holidays(2021).contains(&date(2021, 6, 18)));
    }

    #[test]
    fn christmas_2027_observed_friday() {
        assert!(federal_holidays(2027).contains(&date(2027, 12, 24)));
        assert!(!is_business_day(date(2027, 12, 24)));
    }

    #[test]
    fn sunday_holiday_observed_monday() {
        // Christmas 2022 and New Year's Day 2023 fell on Sundays.
        assert!(!is_business_day(date(2022, 12, 26)));
        assert!(!is_business_day(date(2023, 1, 2)));
        assert!(federal_holidays(2023).contains(&date(2023, 1, 2)));
    }

    #[test]
    fn new_year_2022_observed_in_2021() {
        assert!(!is_business_day(date(2021, 12, 31)));
        assert_eq!(federal_holidays(2021).last(), Some(&date(2021, 12, 31)));
        assert_eq!(federal_holidays(2021).len(), 12);

        let holidays_2022 = federal_holidays(2022);
        assert_eq!(holidays_2022.len(), 10);
        assert_eq!(holidays_2022.first(), Some(&date(2022, 1, 17)));
    }

    #[test]
    fn memorial_day_is_last_monday() {
        // May 2021 has five Mondays, May 2026 four.
        assert!(!is_business_day(date(2021, 5, 31)));
        assert!(is_business_day(date(2021, 5, 24)));
        assert!(!is_business_day(date(2026, 5, 25)));
        assert!(is_business_day(date(2026, 5, 18)));
    }

    #[test]
    fn weekends_are_not_business_days() {
        assert!(!is_business_day(date(2026, 11, 28)));
        assert!(!is_business_day(date(2026, 11, 29)));
        assert!(is_business_day(date(2026, 11, 30)));
    }

    #[test]
    fn holiday_check_matches_holiday_lists() {
        // The per-date arithmetic and the per-year lists are separate code, so compare
        // them on every day of three centuries.
        for year in 1900..=2200 {
            let holidays = federal_holidays(year);
            assert!(
                holidays.iter().all(|d| d.year() == year),
                "{year}: {holidays:?}"
            );
            assert!(
                holidays.windows(2).all(|pair| pair[0] < pair[1]),
                "{year}: {holidays:?}"
            );

            let mut day = date(year, 1, 1);
            while day.year() == year {
                let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                let expected = !weekend && !holidays.contains(&day);
                assert_eq!(is_business_day(day), expected, "{day}");
                day = day.succ_opt().expect("inside chrono's range");
            }
        }
    }

    #[test]
    fn add_five_days_skips_thanksgiving() {
        // Wed 11-25, then Thanksgiving Thu 11-26 and the weekend are skipped:
        // Fri 11-27, Mon 11-30, Tue 12-01, Wed 12-02, Thu 12-03.
        assert_eq!(add_business_days(date(2026, 11, 25), 5), date(2026, 12, 3));
    }

    #[test]
    fn add_zero_days_returns_same_date() {
        assert_eq!(add_business_days(date(2026, 11, 28), 0), date(2026, 11, 28));
    }

    #[test]
    fn add_one_day_from_weekend() {
        assert_eq!(add_business_days(date(2026, 11, 28), 1), date(2026, 11, 30));
        // Friday 2021-12-24 is observed Christmas and 12-31 observed New Year's Day.
        assert_eq!(add_business_days(date(2021, 12, 23), 1), date(2021, 12, 27));
        assert_eq!(add_business_days(date(2021, 12, 30), 1), date(2022, 1, 3));
    }

    #[test]
    fn add_matches_day_by_day_walk() {
        let starts = [
            date(2020, 12, 20),
            date(2021, 6, 17),
            date(2026, 11, 25),
            date(2027, 12, 23),
        ];
        for start in starts {
            let mut walked = start;
            for n in 1..=800u32 {
                walked = walked.succ_opt().expect("inside chrono's range");
                while !is_business_day(walked) {
                    walked = walked.succ_opt().expect("inside chrono's range");
                }
                assert_eq!(add_business_days(start, n), walked, "{start} + {n}");
            }
        }
    }

    #[test]
    fn between_inverts_add() {
        let starts = [
            date(2021, 12, 31),
            date(2026, 1, 3),
            date(2026, 11, 25),
            date(2099, 7, 4),
        ];
        for start in starts {
            for n in [0u32, 1, 4, 5, 9, 10, 11, 57, 250, 261, 5_000, 1_000_000] {
                let end = add_business_days(start, n);
                assert_eq!(
                    business_days_between(start, end),
                    n,
                    "{start} + {n} = {end}"
                );
            }
        }
    }

    #[test]
    fn between_counts_known_span() {
        // Thanksgiving week 2026: Thu 11-26 is a holiday, so Mon to Fri has 4 business days.
        assert_eq!(
            business_days_between(date(2026, 11, 22), date(2026, 11, 28)),
            4
        );
        // 2026 has 261 weekdays and 11 observed holidays.
        assert_eq!(
            business_days_between(date(2025, 12, 31), date(2026, 12, 31)),
            250
        );
    }

    #[test]
    fn between_is_zero_when_not_later() {
        assert_eq!(
            business_days_between(date(2026, 11, 30), date(2026, 11, 30)),
            0
        );
        assert_eq!(
            business_days_between(date(2026, 11, 30), date(2026, 11, 2)),
            0
        );
    }

    #[test]
    fn checked_add_stops_at_max_date() {
        assert_eq!(checked_add_business_days(NaiveDate::MAX, 1), None);
        assert_eq!(checked_add_business_days(date(2026, 1, 1), u64::MAX), None);
    }
}
