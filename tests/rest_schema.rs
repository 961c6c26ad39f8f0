//! `exchanges/schema.json` (the definition format for editors) against the shipped
//! definitions, with a real JSON Schema validator (Python's `jsonschema`, Debian
//! `python3-jsonschema`): every shipped file passes, and files the loader refuses for
//! their shape are refused by the schema too.

use std::path::Path;
use std::process::Command;

const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(v.iter_errors(yaml.safe_load(open(path))), key=lambda e: list(e.path))
    print(path, "ok" if not errors else "INVALID: " + "; ".join(
        ".".join(map(str, e.path)) + ": " + e.message for e in errors))
"#;

fn validate(files: &[&Path]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(root.join("exchanges/schema.json"))
        .args(files)
        .output()
        .expect("python3 runs (scripts/install-test-deps.sh installs python3-jsonschema)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_shipped_definition_passes_the_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("exchanges");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let report = validate(&refs);
    assert_eq!(
        report.lines().filter(|l| l.ends_with(" ok")).count(),
        12,
        "{report}"
    );
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let kraken =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("exchanges/kraken.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown_key",
            kraken.replace("  list: result.*\n", "  lists: result.*\n"),
        ),
        (
            "bad_unit",
            kraken.replace("timestamp: s\n", "timestamp: seconds\n"),
        ),
        (
            "bad_side",
            kraken.replace("side: { b: buy, s: sell }", "side: { b: long, s: short }"),
        ),
        (
            "both_budgets",
            kraken.replace(
                "{ requests: 1, per_seconds: 1 }",
                "{ requests: 1, weight: 5, per_seconds: 1 }",
            ),
        ),
        ("negative_index", kraken.replace("price: 0,", "price: -1,")),
    ];
    let mut files = Vec::new();
    for (name, text) in &cases {
        assert_ne!(text, &kraken, "{name}: the edit applies");
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let report = validate(&refs);
    assert_eq!(
        report.lines().filter(|l| l.contains("INVALID")).count(),
        cases.len(),
        "{report}"
    );
    // The loader refuses each of them as well.
    for (name, text) in &cases {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("kraken.yaml"), text).unwrap();
        let loaded = feedhandler::venues::rest::catalog::Catalog::load(Some(&sub), &[]);
        assert!(loaded.is_err(), "{name}: the loader accepted it");
    }
}
