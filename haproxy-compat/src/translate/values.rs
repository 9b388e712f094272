//! HAProxy value syntax: times (`5s`, `500` = ms, `1m`), bind and server addresses.

use std::net::SocketAddr;
use std::time::Duration;

/// A HAProxy time: a number with an optional unit (us, ms, s, m, h, d); milliseconds by default.
pub fn time(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a time (like 5s, 500ms, 1m)"))?;
    Ok(match unit {
        "" | "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        _ => return Err(format!("'{s}': unknown time unit '{unit}'")),
    })
}

/// `N` within `lo..=hi`.
pub fn number(s: &str, lo: u32, hi: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a number between {lo} and {hi}")),
    }
}

fn strip_family(s: &str) -> Result<&str, String> {
    for p in ["ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"] {
        if let Some(rest) = s.strip_prefix(p) {
            return Ok(rest);
        }
    }
    if s.contains('@') || s.starts_with('/') {
        return Err(format!(
            "'{s}': only TCP addresses are supported (no unix sockets, fd@, abns@ …)"
        ));
    }
    Ok(s)
}

/// One address of a `bind` line (`:80`, `*:80`, `0.0.0.0:80`, `[::]:80`, `ipv4@…`) as IP:PORT.
pub fn bind(s: &str) -> Result<String, String> {
    let s = strip_family(s)?;
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}': a bind address needs a port"))?;
    if port.contains('-') {
        return Err(format!("'{s}': port ranges are not supported"));
    }
    let port: u16 = port.parse().map_err(|_| format!("'{s}': bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" | "*" | "0.0.0.0" => "0.0.0.0".to_string(),
        "::" => "[::]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    let addr = format!("{ip}:{port}");
    addr.parse::<SocketAddr>()
        .map(|_| addr.clone())
        .map_err(|_| format!("'{s}': not an IP address with a port"))
}

/// A `server` address (`host:port`, `ip:port`, `[v6]:port`). Names stay names: the balancer
/// resolves them at start and follows them with the health checks, as for a native config.
pub fn server(s: &str) -> Result<String, String> {
    let s = strip_family(s)?;
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a.to_string());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !s.ends_with(']') => {
            port.parse::<u16>().map_err(|_| format!("'{s}': bad port"))?;
            Ok(s.to_string())
        }
        _ => Err(format!(
            "'{s}': a server address needs a port (netpulse does not forward to the client's port)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(time("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(time("500").unwrap(), Duration::from_millis(500));
        assert_eq!(time("2m").unwrap(), Duration::from_secs(120));
        assert!(time("5x").is_err() && time("s").is_err());
        assert_eq!(bind(":8404").unwrap(), "0.0.0.0:8404");
        assert_eq!(bind("*:80").unwrap(), "0.0.0.0:80");
        assert_eq!(bind("ipv4@127.0.0.1:81").unwrap(), "127.0.0.1:81");
        assert_eq!(bind(":::80").unwrap(), "[::]:80");
        assert!(bind("/run/x.sock").is_err() && bind(":80-90").is_err());
        assert_eq!(server("127.0.0.1:80").unwrap(), "127.0.0.1:80");
        assert_eq!(server("localhost:80").unwrap(), "localhost:80");
        assert!(server("127.0.0.1").unwrap_err().contains("needs a port"));
    }
}
