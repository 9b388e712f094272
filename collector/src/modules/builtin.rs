//! The built-in modules (docs/schema.md): which MIB objects they read and how they are named.
//! Names here are the field/tag names dashboards use; change them only with docs/schema.md.

use super::{Column, Module, ScalarGroup, TableGroup};

const SYSTEM: &[(&str, &str, bool)] = &[
    ("sysDescr", "1.3.6.1.2.1.1.1", false),
    ("sysObjectID", "1.3.6.1.2.1.1.2", false),
    ("sysUpTime", "1.3.6.1.2.1.1.3", false),
    ("sysContact", "1.3.6.1.2.1.1.4", false),
    ("sysName", "1.3.6.1.2.1.1.5", true),
    ("sysLocation", "1.3.6.1.2.1.1.6", false),
];

const IF_TABLE: &[(&str, &str, bool)] = &[
    ("ifDescr", "1.3.6.1.2.1.2.2.1.2", true),
    ("ifType", "1.3.6.1.2.1.2.2.1.3", false),
    ("ifMtu", "1.3.6.1.2.1.2.2.1.4", false),
    ("ifSpeed", "1.3.6.1.2.1.2.2.1.5", false),
    ("ifAdminStatus", "1.3.6.1.2.1.2.2.1.7", false),
    ("ifOperStatus", "1.3.6.1.2.1.2.2.1.8", false),
    ("ifLastChange", "1.3.6.1.2.1.2.2.1.9", false),
    ("ifInOctets", "1.3.6.1.2.1.2.2.1.10", false),
    ("ifInDiscards", "1.3.6.1.2.1.2.2.1.13", false),
    ("ifInErrors", "1.3.6.1.2.1.2.2.1.14", false),
    ("ifInUnknownProtos", "1.3.6.1.2.1.2.2.1.15", false),
    ("ifOutOctets", "1.3.6.1.2.1.2.2.1.16", false),
    ("ifOutDiscards", "1.3.6.1.2.1.2.2.1.19", false),
    ("ifOutErrors", "1.3.6.1.2.1.2.2.1.20", false),
];

const IF_X_TABLE: &[(&str, &str, bool)] = &[
    ("ifName", "1.3.6.1.2.1.31.1.1.1.1", true),
    ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", false),
    ("ifHCInUcastPkts", "1.3.6.1.2.1.31.1.1.1.7", false),
    ("ifHCInMulticastPkts", "1.3.6.1.2.1.31.1.1.1.8", false),
    ("ifHCInBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.9", false),
    ("ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10", false),
    ("ifHCOutUcastPkts", "1.3.6.1.2.1.31.1.1.1.11", false),
    ("ifHCOutMulticastPkts", "1.3.6.1.2.1.31.1.1.1.12", false),
    ("ifHCOutBroadcastPkts", "1.3.6.1.2.1.31.1.1.1.13", false),
    ("ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15", false),
    ("ifAlias", "1.3.6.1.2.1.31.1.1.1.18", true),
    ("ifCounterDiscontinuityTime", "1.3.6.1.2.1.31.1.1.1.19", false),
];

const HR_PROCESSOR: &[(&str, &str, bool)] = &[("hrProcessorLoad", "1.3.6.1.2.1.25.3.3.1.2", false)];

const HR_STORAGE: &[(&str, &str, bool)] = &[
    ("hrStorageDescr", "1.3.6.1.2.1.25.2.3.1.3", true),
    ("hrStorageAllocationUnits", "1.3.6.1.2.1.25.2.3.1.4", false),
    ("hrStorageSize", "1.3.6.1.2.1.25.2.3.1.5", false),
    ("hrStorageUsed", "1.3.6.1.2.1.25.2.3.1.6", false),
];

const ENT_SENSOR: &[(&str, &str, bool)] = &[
    ("entPhySensorType", "1.3.6.1.2.1.99.1.1.1.1", false),
    ("entPhySensorScale", "1.3.6.1.2.1.99.1.1.1.2", false),
    ("entPhySensorPrecision", "1.3.6.1.2.1.99.1.1.1.3", false),
    ("entPhySensorValue", "1.3.6.1.2.1.99.1.1.1.4", false),
    ("entPhySensorOperStatus", "1.3.6.1.2.1.99.1.1.1.5", false),
];

/// EtherLike-MIB dot3StatsTable (indexed by ifIndex): the Ethernet errors IF-MIB sums up.
const DOT3_STATS: &[(&str, &str, bool)] = &[
    ("dot3StatsAlignmentErrors", "1.3.6.1.2.1.10.7.2.1.2", false),
    ("dot3StatsFCSErrors", "1.3.6.1.2.1.10.7.2.1.3", false),
    ("dot3StatsSingleCollisionFrames", "1.3.6.1.2.1.10.7.2.1.4", false),
    ("dot3StatsMultipleCollisionFrames", "1.3.6.1.2.1.10.7.2.1.5", false),
    ("dot3StatsDeferredTransmissions", "1.3.6.1.2.1.10.7.2.1.7", false),
    ("dot3StatsLateCollisions", "1.3.6.1.2.1.10.7.2.1.8", false),
    ("dot3StatsExcessiveCollisions", "1.3.6.1.2.1.10.7.2.1.9", false),
    ("dot3StatsInternalMacTransmitErrors", "1.3.6.1.2.1.10.7.2.1.10", false),
    ("dot3StatsCarrierSenseErrors", "1.3.6.1.2.1.10.7.2.1.11", false),
    ("dot3StatsFrameTooLongs", "1.3.6.1.2.1.10.7.2.1.13", false),
    ("dot3StatsInternalMacReceiveErrors", "1.3.6.1.2.1.10.7.2.1.16", false),
    ("dot3StatsSymbolErrors", "1.3.6.1.2.1.10.7.2.1.18", false),
    ("dot3StatsDuplexStatus", "1.3.6.1.2.1.10.7.2.1.19", false),
];

/// entPhysicalName: read only to name the sensors' rows, never makes a row itself.
const ENT_PHYSICAL_NAME: (&str, &str) = ("entPhysicalName", "1.3.6.1.2.1.47.1.1.1.1.7");

/// Every object above, for symbolic names in user modules.
pub(super) fn symbols() -> impl Iterator<Item = (&'static str, &'static str)> {
    [
        SYSTEM,
        IF_TABLE,
        IF_X_TABLE,
        HR_PROCESSOR,
        HR_STORAGE,
        ENT_SENSOR,
        DOT3_STATS,
    ]
    .into_iter()
    .flatten()
    .map(|(n, o, _)| (*n, *o))
    .chain([ENT_PHYSICAL_NAME])
}

fn columns(defs: &[(&str, &str, bool)]) -> Vec<Column> {
    defs.iter().map(|(n, o, tag)| Column::new(n, o, *tag, true)).collect()
}

pub(super) fn modules() -> Vec<Module> {
    let system = Module {
        derived: vec![],
        name: "system".into(),
        scalars: Some(ScalarGroup {
            measurement: "system".into(),
            objects: SYSTEM.iter().map(|(n, o, tag)| Column::new(n, o, *tag, true)).collect(),
        }),
        tables: vec![],
    };
    let mut if_columns = columns(IF_TABLE);
    if_columns.extend(columns(IF_X_TABLE));
    let interfaces = Module {
        derived: vec![],
        name: "interfaces".into(),
        scalars: None,
        tables: vec![TableGroup {
            measurement: "interface".into(),
            index_tag: "ifIndex".into(),
            columns: if_columns,
        }],
    };
    let host_resources = Module {
        derived: vec![],
        name: "host_resources".into(),
        scalars: None,
        tables: vec![
            TableGroup {
                measurement: "hr_processor".into(),
                index_tag: "hrDeviceIndex".into(),
                columns: columns(HR_PROCESSOR),
            },
            TableGroup {
                measurement: "hr_storage".into(),
                index_tag: "hrStorageIndex".into(),
                columns: columns(HR_STORAGE),
            },
        ],
    };
    let mut sensor_columns = columns(ENT_SENSOR);
    sensor_columns.push(Column::new(ENT_PHYSICAL_NAME.0, ENT_PHYSICAL_NAME.1, true, false));
    let entity_sensors = Module {
        derived: vec![],
        name: "entity_sensors".into(),
        scalars: None,
        tables: vec![TableGroup {
            measurement: "entity_sensor".into(),
            index_tag: "entPhysicalIndex".into(),
            columns: sensor_columns,
        }],
    };
    let etherlike = Module {
        derived: vec![],
        name: "etherlike".into(),
        scalars: None,
        tables: vec![TableGroup {
            measurement: "ether_stats".into(),
            index_tag: "ifIndex".into(),
            columns: columns(DOT3_STATS),
        }],
    };
    vec![system, interfaces, host_resources, entity_sensors, etherlike]
}
