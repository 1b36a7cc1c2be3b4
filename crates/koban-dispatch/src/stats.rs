//! Response-time statistics: call → dispatch and dispatch → arrival, overall, per station
//! and per prefecture, for the incidents whose call came in during a period.

use std::collections::BTreeMap;

use koban_org::PrefCode;
use serde::Serialize;

use crate::error::DispatchError;
use crate::incident::US_PER_S;

/// The timestamps of one incident that response times are measured from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentTimes {
    /// The incident.
    pub incident_id: String,
    /// The station responsible for the incident's area.
    pub station_id: String,
    /// The prefecture (tenant) the incident belongs to.
    pub prefecture: PrefCode,
    /// When the first call was received, UTC µs.
    pub call_received_us: i64,
    /// When the first unit was dispatched, UTC µs (see
    /// [`crate::unit::first_dispatch_and_arrival`]).
    pub first_dispatch_us: Option<i64>,
    /// When the first unit arrived, UTC µs.
    pub first_arrival_us: Option<i64>,
}

/// A half-open period `[start_us, end_us)` of call receipt times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    start_us: i64,
    end_us: i64,
}

impl Period {
    /// Builds a period; `end_us` must not be before `start_us`.
    pub fn new(start_us: i64, end_us: i64) -> Result<Self, DispatchError> {
        if end_us < start_us {
            return Err(DispatchError::OutOfRange { field: "end_us" });
        }
        Ok(Period { start_us, end_us })
    }

    /// Whether `t_us` falls in the period.
    pub fn contains(&self, t_us: i64) -> bool {
        (self.start_us..self.end_us).contains(&t_us)
    }
}

/// Summary of one kind of interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DurationSummary {
    /// Number of intervals.
    pub count: usize,
    /// Median in seconds (mean of the two middle values when the count is even).
    pub median_s: f64,
    /// 90th percentile in seconds, by nearest rank, so it is always an observed value —
    /// the form the NFPA 1225 "90 % within" targets are checked against.
    pub p90_s: f64,
    /// Arithmetic mean in seconds.
    pub mean_s: f64,
}

/// Summarises interval lengths in microseconds; `None` when there are none.
pub fn summarize(mut samples_us: Vec<i64>) -> Option<DurationSummary> {
    if samples_us.is_empty() {
        return None;
    }
    samples_us.sort_unstable();
    let n = samples_us.len();
    let s = |us: i64| us as f64 / US_PER_S as f64;
    let median_s = if n % 2 == 1 {
        s(samples_us[n / 2])
    } else {
        (s(samples_us[n / 2 - 1]) + s(samples_us[n / 2])) / 2.0
    };
    // Nearest rank: the smallest value with at least 90 % of the samples at or below it.
    let p90_rank = (n * 9).div_ceil(10).max(1);
    // Summing in i128 keeps a month of microsecond intervals exact.
    let total: i128 = samples_us.iter().map(|&v| i128::from(v)).sum();
    Some(DurationSummary {
        count: n,
        median_s,
        p90_s: s(samples_us[p90_rank - 1]),
        mean_s: total as f64 / n as f64 / US_PER_S as f64,
    })
}

/// Response times for one group of incidents.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResponseStats {
    /// Incidents in the group.
    pub incidents: usize,
    /// Call received → first dispatch; `None` when no incident was dispatched.
    pub call_to_dispatch: Option<DurationSummary>,
    /// First dispatch → first arrival; `None` when no incident had both.
    pub dispatch_to_arrival: Option<DurationSummary>,
    /// Intervals left out because their timestamps contradict each other (a negative
    /// interval, or an arrival with no dispatch); they point at clock or data faults.
    pub inconsistent: usize,
}

/// Response times for a period, overall and grouped.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResponseReport {
    /// All incidents in the period.
    pub overall: ResponseStats,
    /// Per station id.
    pub by_station: BTreeMap<String, ResponseStats>,
    /// Per prefecture.
    pub by_prefecture: BTreeMap<PrefCode, ResponseStats>,
}

#[derive(Default)]
struct Accumulator {
    incidents: usize,
    to_dispatch: Vec<i64>,
    to_arrival: Vec<i64>,
    inconsistent: usize,
}

impl Accumulator {
    fn add(&mut self, t: &IncidentTimes) {
        self.incidents += 1;
        if let Some(d) = t.first_dispatch_us {
            let interval = d.saturating_sub(t.call_received_us);
            if interval < 0 {
                self.inconsistent += 1;
            } else {
                self.to_dispatch.push(interval);
            }
        }
        match (t.first_dispatch_us, t.first_arrival_us) {
            (Some(d), Some(a)) => {
                let interval = a.saturating_sub(d);
                if interval < 0 {
                    self.inconsistent += 1;
                } else {
                    self.to_arrival.push(interval);
                }
            }
            (None, Some(_)) => self.inconsistent += 1,
            _ => {}
        }
    }

    fn finish(self) -> ResponseStats {
        ResponseStats {
            incidents: self.incidents,
            call_to_dispatch: summarize(self.to_dispatch),
            dispatch_to_arrival: summarize(self.to_arrival),
            inconsistent: self.inconsistent,
        }
    }
}

/// Computes the report for incidents whose call was received within `period`.
pub fn response_report(period: &Period, incidents: &[IncidentTimes]) -> ResponseReport {
    let mut overall = Accumulator::default();
    let mut by_station: BTreeMap<&str, Accumulator> = BTreeMap::new();
    let mut by_prefecture: BTreeMap<PrefCode, Accumulator> = BTreeMap::new();
    for t in incidents
        .iter()
        .filter(|t| period.contains(t.call_received_us))
    {
        overall.add(t);
        by_station.entry(&t.station_id).or_default().add(t);
        by_prefecture.entry(t.prefecture).or_default().add(t);
    }
    ResponseReport {
        overall: overall.finish(),
        by_station: by_station
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.finish()))
            .collect(),
        by_prefecture: by_prefecture
            .into_iter()
            .map(|(k, v)| (k, v.finish()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T0: i64 = 1_700_000_000_000_000;

    fn times(
        id: &str,
        station: &str,
        pref: PrefCode,
        d_s: Option<i64>,
        a_s: Option<i64>,
    ) -> IncidentTimes {
        IncidentTimes {
            incident_id: id.into(),
            station_id: station.into(),
            prefecture: pref,
            call_received_us: T0,
            first_dispatch_us: d_s.map(|s| T0 + s * US_PER_S),
            first_arrival_us: a_s.map(|s| T0 + s * US_PER_S),
        }
    }

    #[test]
    fn summary_of_known_samples() {
        let s = summarize((1..=10).map(|v| v * US_PER_S).collect());
        assert_eq!(
            s,
            Some(DurationSummary {
                count: 10,
                median_s: 5.5,
                p90_s: 9.0,
                mean_s: 5.5
            })
        );
        let one = summarize(vec![3 * US_PER_S]);
        assert_eq!(one.map(|s| (s.median_s, s.p90_s)), Some((3.0, 3.0)));
        assert_eq!(summarize(vec![]), None);
        let odd = summarize(vec![5, 1, 3].into_iter().map(|v| v * US_PER_S).collect());
        assert_eq!(odd.map(|s| s.median_s), Some(3.0));
    }

    #[test]
    fn grouped_by_station_and_prefecture() {
        let osaka = PrefCode::new(27).unwrap_or(PrefCode::TOKYO);
        let data = vec![
            times("a", "s1", PrefCode::TOKYO, Some(60), Some(360)),
            times("b", "s1", PrefCode::TOKYO, Some(120), None),
            times("c", "s2", osaka, Some(30), Some(330)),
            times("d", "s2", osaka, None, None),
            times("bad", "s2", osaka, Some(100), Some(50)),
        ];
        let period = Period::new(T0, T0 + 1);
        assert!(period.is_ok());
        let Ok(period) = period else { return };
        let r = response_report(&period, &data);
        assert_eq!(r.overall.incidents, 5);
        assert_eq!(r.overall.call_to_dispatch.map(|s| s.count), Some(4));
        assert_eq!(r.overall.dispatch_to_arrival.map(|s| s.count), Some(2));
        assert_eq!(r.overall.inconsistent, 1);
        let s1 = &r.by_station["s1"];
        assert_eq!(s1.call_to_dispatch.map(|s| s.median_s), Some(90.0));
        assert_eq!(s1.dispatch_to_arrival.map(|s| s.mean_s), Some(300.0));
        assert_eq!(r.by_prefecture[&osaka].incidents, 3);
        assert_eq!(r.by_prefecture[&PrefCode::TOKYO].incidents, 2);
    }

    #[test]
    fn period_filters_half_open() {
        let mut late = times("late", "s", PrefCode::TOKYO, Some(1), None);
        late.call_received_us = T0 + 10;
        let data = [times("on", "s", PrefCode::TOKYO, Some(1), None), late];
        let Ok(period) = Period::new(T0, T0 + 10) else {
            return;
        };
        assert_eq!(response_report(&period, &data).overall.incidents, 1);
        assert!(Period::new(10, 9).is_err());
    }

    #[test]
    fn arrival_without_dispatch_is_inconsistent() {
        let data = [times("x", "s", PrefCode::TOKYO, None, Some(10))];
        let Ok(period) = Period::new(T0, T0 + 1) else {
            return;
        };
        let r = response_report(&period, &data);
        assert_eq!(r.overall.inconsistent, 1);
        assert_eq!(r.overall.dispatch_to_arrival, None);
    }

    proptest! {
        #[test]
        fn summary_is_ordered(samples in proptest::collection::vec(0i64..10_000_000_000, 1..200)) {
            let Some(s) = summarize(samples.clone()) else { return Err(TestCaseError::fail("none")) };
            let min = *samples.iter().min().unwrap_or(&0) as f64 / 1e6;
            let max = *samples.iter().max().unwrap_or(&0) as f64 / 1e6;
            prop_assert_eq!(s.count, samples.len());
            prop_assert!(min <= s.median_s && s.median_s <= s.p90_s && s.p90_s <= max);
            prop_assert!(min <= s.mean_s + 1e-6 && s.mean_s <= max + 1e-6);
            let at_or_below = samples.iter().filter(|&&v| v as f64 / 1e6 <= s.p90_s).count();
            prop_assert!(at_or_below * 10 >= samples.len() * 9);
        }
    }
}
