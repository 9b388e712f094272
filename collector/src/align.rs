//! Timestamp alignment (`round_interval`, like Telegraf's): a poll's points are floored to
//! the start of *its target's* interval, so a repeated poll in the same interval overwrites
//! its points in InfluxDB instead of adding a second copy. Every mode aligns through here.

use crate::lineproto::Point;
use crate::target::Target;
use std::time::Duration;

/// Floors every timestamp to a multiple of `interval`.
pub fn to_interval(points: &mut [Point], interval: Duration) {
    let step = interval.as_nanos() as i64;
    if step > 0 {
        for p in points {
            p.timestamp -= p.timestamp.rem_euclid(step);
        }
    }
}

/// Aligns a poll's points to the interval of the target that was polled.
pub fn to_target(points: &mut [Point], target: &Target) {
    to_interval(points, target.interval);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::FieldValue;

    #[test]
    fn timestamps_align_to_the_interval() {
        let p = |ts| Point {
            measurement: "m".into(),
            tags: vec![],
            fields: vec![("v".into(), FieldValue::Int(1))],
            timestamp: ts,
        };
        let mut pts = vec![
            p(1_700_000_059_999_999_999),
            p(1_700_000_000_000_000_000),
            p(1_700_000_061_000_000_000),
        ];
        to_interval(&mut pts, Duration::from_secs(60));
        let ts: Vec<i64> = pts.iter().map(|p| p.timestamp).collect();
        assert_eq!(
            ts,
            [
                1_700_000_040_000_000_000,
                1_699_999_980_000_000_000,
                1_700_000_040_000_000_000
            ]
        );
    }

    #[test]
    fn a_target_aligns_to_its_own_interval() {
        let tc = netpulse_config::TargetConfig {
            name: "t".into(),
            address: "udp://127.0.0.1".into(),
            modules: vec!["system".into()],
            interval: Some(netpulse_config::Duration::from_secs(10)),
            ..Default::default()
        };
        let cfg = netpulse_config::CollectorConfig::default();
        let target = Target::from_config(&tc, &cfg, &crate::registry::Registry::builtin()).unwrap();
        let mut pts = vec![Point {
            measurement: "m".into(),
            tags: vec![],
            fields: vec![("v".into(), FieldValue::Int(1))],
            timestamp: 1_700_000_055_000_000_000,
        }];
        to_target(&mut pts, &target);
        assert_eq!(
            pts[0].timestamp, 1_700_000_050_000_000_000,
            "10 s, not the collector's 60 s"
        );
    }
}
