//! A target's state as one replica hands it to the next, one blob in Redis: the counter
//! samples of its rates and, for SNMPv3, the agent's engine snapshot (so the new owner needs
//! no discovery round trip and no time-window correction).

use crate::snmp::EngineSnapshot;
use crate::varint::{Reader, put};

const VERSION: u8 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetState {
    /// `RateTracker::export` (empty: no rates).
    pub rates: Vec<u8>,
    pub engine: Option<EngineSnapshot>,
}

impl TargetState {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        put(&mut out, self.rates.len() as u64);
        out.extend_from_slice(&self.rates);
        match &self.engine {
            None => out.push(0),
            Some(e) => {
                out.push(1);
                put(&mut out, e.engine_id.len() as u64);
                out.extend_from_slice(&e.engine_id);
                for v in [
                    u64::from(e.msg_max_size),
                    u64::from(e.boots),
                    u64::from(e.time),
                    e.at_unix,
                ] {
                    put(&mut out, v);
                }
            }
        }
        out
    }

    /// `None` for bytes `encode` did not write.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.byte()? != VERSION {
            return None;
        }
        let n = r.num()? as usize;
        let rates = r.take(n)?.to_vec();
        let engine = match r.byte()? {
            0 => None,
            1 => {
                let n = r.num()? as usize;
                let engine_id = r.take(n)?.to_vec();
                let mut num32 = || u32::try_from(r.num()?).ok();
                let (msg_max_size, boots, time) = (num32()?, num32()?, num32()?);
                Some(EngineSnapshot {
                    engine_id,
                    msg_max_size,
                    boots,
                    time,
                    at_unix: r.num()?,
                })
            }
            _ => return None,
        };
        Some(Self { rates, engine })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let s = TargetState {
            rates: vec![1, 2, 3],
            engine: Some(EngineSnapshot {
                engine_id: b"\x80\x00\x1f\x88\x04abc".to_vec(),
                msg_max_size: 65507,
                boots: 7,
                time: 123_456,
                at_unix: 1_796_300_000,
            }),
        };
        let bytes = s.encode();
        assert_eq!(TargetState::decode(&bytes), Some(s));
        for cut in 0..bytes.len() {
            assert_eq!(TargetState::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            TargetState::decode(&TargetState::default().encode()),
            Some(TargetState::default())
        );
    }
}
