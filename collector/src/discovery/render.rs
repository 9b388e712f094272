//! The `discover` command's output: one `[[targets]]` block (TOML, ready for a targets file)
//! or one JSON object per device, each with the identity it was found by. Secrets are
//! printed only when asked for (`--show-secrets`): the operator reviews the output first.

use super::{Device, Report};
use netpulse_config::TargetConfig;

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// TOML: a header saying what was swept, then the devices' targets.
pub fn toml(report: &Report, targets: &[TargetConfig], command: &str, show_secrets: bool) -> String {
    let mut out = format!(
        "# {command}\n# {} devices ({} answering addresses of {} probed in {:.1} s)\n",
        report.devices.len(),
        report.answered,
        report.probed,
        report.took.as_secs_f64()
    );
    if !show_secrets {
        out.push_str(
            "# credentials are not printed: set them in the targets file's [defaults] (or run with --show-secrets)\n",
        );
    }
    for (d, t) in report.devices.iter().zip(targets) {
        out.push_str(&format!(
            "\n[[targets]]\nname = {}\naddress = {}\nversion = {}\nprofile = {}\n",
            quote(&t.name),
            quote(&t.address),
            quote(t.version.as_str()),
            quote(&t.profile)
        ));
        if let Some(u) = &t.user {
            out.push_str(&format!("user = {}\n", quote(u)));
        }
        if show_secrets {
            let v = super::exposed_json(t);
            if let Some(c) = v["community"].as_str() {
                out.push_str(&format!("community = {}\n", quote(c)));
            }
            for key in ["auth", "priv"] {
                if let (Some(proto), Some(pass)) = (v[key]["protocol"].as_str(), v[key]["password"].as_str()) {
                    out.push_str(&format!(
                        "{key} = {{ protocol = {}, password = {} }}\n",
                        quote(proto),
                        quote(pass)
                    ));
                }
            }
        } else {
            out.push_str(&format!("# credential {} of those given\n", d.answer.credential + 1));
        }
        out.push_str(&about(d));
    }
    out
}

/// The comment lines saying how the device was found and what it is.
fn about(d: &Device) -> String {
    let mut out = format!("# found by {}", d.identity);
    if !d.also.is_empty() {
        let also: Vec<String> = d.also.iter().map(|a| a.to_string()).collect();
        out.push_str(&format!("; also answers on {}", also.join(", ")));
    }
    out.push('\n');
    let descr: String = d
        .answer
        .sys_descr
        .chars()
        .take(100)
        .filter(|c| !c.is_control())
        .collect();
    match &d.answer.sys_object_id {
        Some(o) => out.push_str(&format!("# sysObjectID {o}; sysDescr {descr:?}\n")),
        None => out.push_str(&format!("# no sysObjectID; sysDescr {descr:?}\n")),
    }
    out
}

/// JSON: `{"devices": [...], "probed": N, "answered": N, "seconds": S}`.
pub fn json(report: &Report, targets: &[TargetConfig], show_secrets: bool) -> String {
    let devices: Vec<serde_json::Value> = report
        .devices
        .iter()
        .zip(targets)
        .map(|(d, t)| {
            let mut v = serde_json::json!({
                "name": t.name,
                "address": t.address,
                "version": t.version.as_str(),
                "profile": t.profile,
                "identity": d.identity.to_string(),
                "also": d.also.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "sys_name": d.answer.sys_name,
                "sys_object_id": d.answer.sys_object_id.as_ref().map(|o| o.to_string()),
                "sys_descr": d.answer.sys_descr,
                "credential": d.answer.credential + 1,
            });
            if let Some(u) = &t.user {
                v["user"] = u.as_str().into();
            }
            if show_secrets && let Some(c) = &t.community {
                v["community"] = c.expose().into();
            }
            v
        })
        .collect();
    serde_json::json!({
        "devices": devices,
        "probed": report.probed,
        "answered": report.answered,
        "seconds": report.took.as_secs_f64(),
    })
    .to_string()
}
