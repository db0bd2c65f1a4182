//! `report`: two `run` results side by side, as a markdown table (stdout) and as JSON with the raw numbers.
//!
//! Every ratio is feedwire / soketi, taken within one run of the script. Lower is better for times, latency,
//! CPU and memory; higher is better for throughput. A row whose scenario lost something (a subscriber closed,
//! an event missing somewhere, a request given up) is shown as FAILED with what was lost, never as a number.

use serde_json::{Value, json};

use crate::Args;

/// One cell: its text, and the number ratios are taken of (None: no ratio, e.g. a failed row).
struct Cell {
    text: String,
    value: Option<f64>,
}

fn cell(text: impl Into<String>, value: Option<f64>) -> Cell {
    Cell {
        text: text.into(),
        value,
    }
}

fn f(v: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn u(v: &Value, path: &str) -> u64 {
    f(v, path).unwrap_or(0.0) as u64
}

/// 12345678 -> "12,345,678".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn lost_note(v: &Value, key: &str) -> String {
    let mut notes = Vec::new();
    let closed = u(v, &format!("{key}.closed_by_server"));
    if closed > 0 {
        let reasons = v[key]["close_reasons"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{n}x {k}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        notes.push(format!("{closed} subscribers closed by the server ({reasons})"));
    }
    let given_up = u(v, &format!("{key}.http.given_up"));
    if given_up > 0 {
        notes.push(format!("{given_up} requests given up"));
    }
    notes.join(", ")
}

fn connect_cell(v: &Value) -> Cell {
    let (req, ok) = (u(v, "connect.requested"), u(v, "connect.connected"));
    let secs = f(v, "connect.seconds").unwrap_or(0.0);
    if ok == req && req > 0 {
        cell(format!("{secs:.2} s"), Some(secs))
    } else {
        cell(
            format!(
                "FAILED: {} of {} subscribed in {secs:.2} s",
                thousands(ok),
                thousands(req)
            ),
            None,
        )
    }
}

fn fanout_cell(v: &Value) -> (Cell, Option<(f64, f64)>) {
    let (exp, got) = (u(v, "fanout.expected"), u(v, "fanout.delivered"));
    let (p50, p99) = (f(v, "fanout.p50_ms"), f(v, "fanout.p99_ms"));
    let req = u(v, "connect.requested");
    let pct = match (p50, p99) {
        (Some(a), Some(b)) => format!("{a:.1} / {b:.1} ms"),
        _ => "no event received".into(),
    };
    if exp == got && exp == req * u(v, "fanout.events") && u(v, "fanout.closed_by_server") == 0 && exp > 0 {
        (cell(pct, None), p50.zip(p99))
    } else {
        let note = lost_note(v, "fanout");
        (
            cell(
                format!(
                    "FAILED: {} of {} delivered{}{} (received: {pct})",
                    thousands(got),
                    thousands(req * u(v, "fanout.events")),
                    if note.is_empty() { "" } else { "; " },
                    note
                ),
                None,
            ),
            None,
        )
    }
}

fn cpu_cell(v: &Value) -> Cell {
    let complete = fanout_cell(v).1.is_some();
    match f(v, "fanout.cpu.us_per_message") {
        // a figure over a fan-out that lost messages is shown, but no ratio is taken of it
        Some(us) if !complete => cell(
            format!(
                "{us:.2} us over an incomplete fan-out ({} ticks for {} messages)",
                u(v, "fanout.cpu.ticks"),
                thousands(u(v, "fanout.delivered"))
            ),
            None,
        ),
        Some(us) => cell(
            format!(
                "{us:.2} us ({} ticks for {} messages)",
                u(v, "fanout.cpu.ticks"),
                thousands(u(v, "fanout.delivered"))
            ),
            Some(us),
        ),
        None => cell("no message delivered", None),
    }
}

fn memory_cell(v: &Value) -> Cell {
    match f(v, "memory.kib_per_connection") {
        Some(k) => cell(
            format!("{k:.1} KiB ({} MiB at N)", u(v, "memory.rss_at_n_kib") / 1024),
            Some(k),
        ),
        None => cell("no connection", None),
    }
}

fn throughput_cell(v: &Value, key: &str) -> Cell {
    let t = &v[key];
    if t.is_null() {
        return cell("not run", None);
    }
    let mut extra = Vec::new();
    let n429 = u(t, "http.status_429");
    if n429 > 0 {
        extra.push(format!("{} x 429", thousands(n429)));
    }
    if let Some(m) = t["http"]["other_status"].as_object() {
        for (k, n) in m {
            extra.push(format!("{n} x {k}"));
        }
    }
    if u(t, "http.connections") > 2 * u(t, "in_flight").max(1) {
        extra.push("HTTP: the server closes the connection after each answer".into());
    }
    let errs = u(t, "http.transport_errors");
    if errs > 0 {
        extra.push(format!("{errs} HTTP errors"));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" ({})", extra.join(", "))
    };
    if t["everything_delivered"].as_bool() == Some(true) {
        let eps = f(t, "events_per_second").unwrap_or(0.0);
        cell(
            format!(
                "{} events/s in {:.2} s{extra}",
                thousands(eps.round() as u64),
                f(t, "seconds").unwrap_or(0.0)
            ),
            Some(eps),
        )
    } else {
        let (exp, got) = (u(t, "expected"), u(t, "delivered"));
        let mut notes = vec![format!(
            "{} of {} messages delivered",
            thousands(got),
            thousands(u(t, "subscribers_requested") * u(t, "events"))
        )];
        let missing = u(t, "subscribers_missing_events");
        if missing > 0 {
            notes.push(format!("{missing} subscribers missing events"));
        }
        if u(t, "subscribers") < u(t, "subscribers_requested") {
            notes.push(format!(
                "{} of {} subscribed",
                u(t, "subscribers"),
                u(t, "subscribers_requested")
            ));
        }
        let lost = lost_note(v, key);
        if !lost.is_empty() {
            notes.push(lost);
        }
        let _ = exp;
        cell(format!("FAILED: {}{extra}", notes.join("; ")), None)
    }
}

fn burst_cell(v: &Value) -> Cell {
    let b = &v["burst"];
    if b.is_null() {
        return cell("not run", None);
    }
    let secs = f(b, "seconds").unwrap_or(0.0);
    let (n, ok) = (u(b, "channels"), u(b, "answered"));
    if b["all_answered"].as_bool() == Some(true) {
        cell(
            format!("yes: {} answered in {secs:.2} s", thousands(n)),
            Some(secs),
        )
    } else {
        let mut why = Vec::new();
        if let Some(c) = b["closed_by_server"].as_str() {
            why.push(format!("closed: {c}"));
        }
        if let Some(e) = b["error"].as_str() {
            why.push(e.to_owned());
        }
        if u(b, "refused") > 0 {
            why.push(format!("{} refused", thousands(u(b, "refused"))));
        }
        cell(
            format!(
                "no: {} of {} answered in {secs:.2} s ({})",
                thousands(ok),
                thousands(n),
                why.join("; ")
            ),
            None,
        )
    }
}

fn ratio(a: &Cell, b: &Cell) -> String {
    match (a.value, b.value) {
        (Some(x), Some(y)) if y > 0.0 => format!("{:.2}", x / y),
        _ => "-".into(),
    }
}

pub fn main(argv: &[String]) -> Result<(), String> {
    let a = Args::parse(argv)?;
    let out = a.str("out").ok_or("--out is required")?;
    let mut meta = serde_json::Map::new();
    for kv in a.all("meta") {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--meta {kv}: want key=value"))?;
        meta.insert(k.to_owned(), json!(v));
    }
    // NAME=FILE, or NAME=unavailable:REASON
    let mut servers: Vec<(String, Result<Value, String>)> = Vec::new();
    for w in &a.words {
        let (name, file) = w.split_once('=').ok_or_else(|| format!("{w}: want NAME=FILE"))?;
        let v = if let Some(reason) = file.strip_prefix("unavailable:") {
            Err(reason.to_owned())
        } else {
            match std::fs::read_to_string(file) {
                Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{file}: {e}")),
                Err(e) => Err(format!("no result ({file}: {e})")),
            }
        };
        servers.push((name.to_owned(), v));
    }
    if servers.len() != 2 {
        return Err("report wants two servers: feedwire=FILE soketi=FILE".into());
    }
    let n = servers
        .iter()
        .find_map(|(_, v)| v.as_ref().ok().map(|v| u(v, "n")))
        .unwrap_or(0);
    let pick = |v: &Result<Value, String>, k: &dyn Fn(&Value) -> Cell| -> Cell {
        match v {
            Ok(v) => k(v),
            Err(reason) => cell(format!("not available: {reason}"), None),
        }
    };
    let first_ok = servers
        .iter()
        .find_map(|(_, v)| v.as_ref().ok())
        .cloned()
        .unwrap_or(Value::Null);
    let fan_events = u(&first_ok, "fanout.events");
    let single = &first_ok["single"];
    let batch = &first_ok["batch"];
    let nodes = u(&first_ok, "nodes").max(1);
    let cpu_label = if nodes > 1 { ", summed over both nodes" } else { "" };
    let mut rows: Vec<(String, Cell, Cell, String)> = Vec::new();
    let mut push = |label: String, k: &dyn Fn(&Value) -> Cell| {
        let c0 = pick(&servers[0].1, k);
        let c1 = pick(&servers[1].1, k);
        let r = ratio(&c0, &c1);
        rows.push((label, c0, c1, r));
    };
    push(
        format!(
            "connect + subscribe, N subscribers on one public channel (N = {})",
            thousands(n)
        ),
        &connect_cell,
    );
    // fan-out has two numbers and so two ratios
    {
        let (c0, r0) = match &servers[0].1 {
            Ok(v) => fanout_cell(v),
            Err(r) => (cell(format!("not available: {r}"), None), None),
        };
        let (c1, r1) = match &servers[1].1 {
            Ok(v) => fanout_cell(v),
            Err(r) => (cell(format!("not available: {r}"), None), None),
        };
        let r = match (r0, r1) {
            (Some((a50, a99)), Some((b50, b99))) if b50 > 0.0 && b99 > 0.0 => {
                format!("{:.2} / {:.2}", a50 / b50, a99 / b99)
            }
            _ => "-".into(),
        };
        rows.push((
            format!("fan-out latency p50 / p99 of {fan_events} events to N subscribers (publish time to receive time)"),
            c0,
            c1,
            r,
        ));
    }
    let mut push = |label: String, k: &dyn Fn(&Value) -> Cell| {
        let c0 = pick(&servers[0].1, k);
        let c1 = pick(&servers[1].1, k);
        let r = ratio(&c0, &c1);
        rows.push((label, c0, c1, r));
    };
    push(
        format!(
            "server CPU per delivered message at N (user+sys of the server process{cpu_label} / messages delivered, fan-out phase)"
        ),
        &cpu_cell,
    );
    push(
        "resident memory per connection at N idle subscribers ((RSS at N - RSS before) / N)".into(),
        &memory_cell,
    );
    push(
        format!(
            "throughput, single triggers: {} events, {} requests in flight, delivered to {} subscribers, everything delivered",
            thousands(u(single, "events")),
            u(single, "in_flight"),
            u(single, "subscribers_requested")
        ),
        &|v| throughput_cell(v, "single"),
    );
    push(
        format!(
            "throughput, batch_events: {} events, {} per request, {} requests in flight, delivered to {} subscribers, everything delivered",
            thousands(u(batch, "events")),
            u(batch, "per_request"),
            u(batch, "in_flight"),
            u(batch, "subscribers_requested")
        ),
        &|v| throughput_cell(v, "batch"),
    );
    if servers
        .iter()
        .any(|(_, v)| v.as_ref().is_ok_and(|v| !v["burst"].is_null()))
    {
        let channels = servers
            .iter()
            .find_map(|(_, v)| v.as_ref().ok().map(|v| u(v, "burst.channels")))
            .unwrap_or(0);
        push(
            format!(
                "burst subscribe: one connection subscribes to {} channels at once: all answered? time",
                thousands(channels)
            ),
            &burst_cell,
        );
    }

    let (n0, n1) = (&servers[0].0, &servers[1].0);
    let mut md = String::new();
    md.push_str(&format!(
        "| measured | {n0} | {n1} | ratio ({n0} / {n1}) |\n|---|---|---|---|\n"
    ));
    for (label, c0, c1, r) in &rows {
        md.push_str(&format!("| {label} | {} | {} | {r} |\n", c0.text, c1.text));
    }
    let mut head = String::new();
    for (k, v) in &meta {
        head.push_str(&format!("- {k}: {}\n", v.as_str().unwrap_or_default()));
    }
    println!("{head}\n{md}");
    println!(
        "ratio = {n0} / {n1}: lower is better for times, latency, CPU and memory; higher is better for throughput."
    );

    let table: Vec<Value> = rows
        .iter()
        .map(|(l, c0, c1, r)| json!({"measured": l, n0.as_str(): c0.text, n1.as_str(): c1.text, "ratio": r}))
        .collect();
    let mut raw = serde_json::Map::new();
    for (name, v) in &servers {
        raw.insert(
            name.clone(),
            match v {
                Ok(v) => v.clone(),
                Err(reason) => json!({"not_available": reason}),
            },
        );
    }
    let all = json!({"meta": meta, "table": table, "markdown": md, "servers": raw});
    std::fs::write(
        out,
        serde_json::to_string_pretty(&all).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| format!("{out}: {e}"))?;
    eprintln!("written to {out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn a_loss_is_a_failed_row_not_a_number() {
        let v = json!({"single": {"events": 10, "everything_delivered": false, "expected": 1000, "delivered": 990,
            "subscribers": 100, "subscribers_requested": 100, "subscribers_missing_events": 1,
            "closed_by_server": 1, "close_reasons": {"1008 slow reader": 1}, "http": {"status_429": 3}}});
        let c = throughput_cell(&v, "single");
        assert!(c.value.is_none());
        assert!(c.text.starts_with("FAILED: 990 of 1,000"), "{}", c.text);
        assert!(c.text.contains("1008 slow reader"), "{}", c.text);
        assert!(c.text.contains("3 x 429"), "{}", c.text);
    }
}
