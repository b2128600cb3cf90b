//! `--config FILE` for `verify` and `bench`: a TOML file of settings whose keys are the
//! subcommand's long flag names (`alpha-iters = 20`, `branching = "input"`, `no-prune = true`).
//! The file's settings are put on the command line right after the subcommand, before the
//! user's own flags; the subcommands let a later flag override an earlier one, so a flag given on
//! the command line wins.

use std::ffi::OsString;
use std::path::Path;

/// The command line with the `--config` file's settings spliced in after the subcommand (the
/// line unchanged when there is no `--config`). `flags(sub)` lists the long flags `sub` takes.
pub fn expand(
    args: Vec<OsString>,
    flags: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Vec<OsString>, String> {
    // The subcommand: the first argument after the program name that is not a flag.
    let Some(si) = args.iter().skip(1).position(|a| !a.to_string_lossy().starts_with('-')).map(|i| i + 1)
    else {
        return Ok(args);
    };
    let sub = args[si].to_string_lossy().into_owned();
    let mut file = None;
    for (i, a) in args.iter().enumerate().skip(si + 1) {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--config=") {
            file = Some(v.to_string());
        } else if a == "--config" {
            file = args.get(i + 1).map(|v| v.to_string_lossy().into_owned());
        }
    }
    let Some(file) = file else { return Ok(args) };
    let Some(known) = flags(&sub) else { return Ok(args) }; // clap reports the flag as unknown
    let tokens = settings(Path::new(&file), &known)?;
    let mut out = args[..=si].to_vec();
    out.extend(tokens.into_iter().map(OsString::from));
    out.extend(args[si + 1..].iter().cloned());
    Ok(out)
}

/// The file's settings as command-line tokens, checked against `known` flags.
fn settings(path: &Path, known: &[String]) -> Result<Vec<String>, String> {
    let p = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{p}: cannot read: {e}"))?;
    parse(&text, &p.to_string(), known)
}

/// The settings of TOML `text` (the file `p`) as command-line tokens, checked against `known`
/// flags: a `true` gives the flag alone, `false` nothing, an array its items joined by commas.
pub fn parse(text: &str, p: &str, known: &[String]) -> Result<Vec<String>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("{p}: not a TOML table of settings: {}", e.message().replace('\n', " "))
    })?;
    let mut tokens = Vec::new();
    for (key, value) in table {
        if key == "config" || !known.contains(&key) {
            // Escaped: a quoted TOML key may hold a line break (found by fuzzing).
            return Err(format!(
                "{p}: '{}' is not a setting of this subcommand (keys are its long flag names)",
                key.escape_debug()
            ));
        }
        let flag = format!("--{key}");
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            _ => Err(format!("{p}: '{key}': expected a string, a number or a boolean")),
        };
        match &value {
            toml::Value::Boolean(true) => tokens.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                let parts: Result<Vec<String>, String> = items.iter().map(scalar).collect();
                tokens.push(flag);
                tokens.push(parts?.join(","));
            }
            v => {
                tokens.push(flag);
                tokens.push(scalar(v)?);
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn an_unknown_key_is_named_on_one_line() {
        let known = vec!["timeout".to_string()];
        let e = parse("\"-m\\n\" = 1\n", "f.toml", &known).unwrap_err();
        assert_eq!(e, "f.toml: '-m\\n' is not a setting of this subcommand (keys are its long flag names)");
    }

    #[test]
    fn settings_are_spliced_after_the_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "alpha-iters = 3\nbranching = \"input\"\nno-prune = true\njson = false\nfrac = [0.5, 1]\n",
        )
        .unwrap();
        let known = |s: &str| {
            (s == "verify").then(|| {
                ["alpha-iters", "branching", "no-prune", "json", "frac", "config"].map(String::from).to_vec()
            })
        };
        let args = os(&["genbab", "verify", "m", "p", "--config", f.to_str().unwrap(), "--alpha-iters", "7"]);
        let got: Vec<String> =
            expand(args, known).unwrap().iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let cfg = f.to_str().unwrap();
        assert_eq!(
            got,
            [
                "genbab",
                "verify",
                "--alpha-iters",
                "3",
                "--branching",
                "input",
                "--frac",
                "0.5,1",
                "--no-prune",
                "m",
                "p",
                "--config",
                cfg,
                "--alpha-iters",
                "7"
            ]
        );
        // Without --config: unchanged.
        let args = os(&["genbab", "verify", "m", "p"]);
        assert_eq!(expand(args.clone(), known).unwrap(), args);
        // An unknown key, a nested table, a missing file: one-line errors naming the file.
        std::fs::write(&f, "alpha-iterz = 3\n").unwrap();
        let e = expand(os(&["genbab", "verify", "--config", cfg]), known).unwrap_err();
        assert!(e.contains("'alpha-iterz' is not a setting"), "{e}");
        std::fs::write(&f, "[alpha]\niters = 3\n").unwrap();
        let e = expand(os(&["genbab", "verify", "--config", cfg]), known).unwrap_err();
        assert!(e.contains("'alpha' is not a setting"), "{e}");
        std::fs::write(&f, "alpha-iters = [[1]]\n").unwrap();
        assert!(
            expand(os(&["genbab", "verify", "--config", cfg]), known)
                .unwrap_err()
                .contains("expected a string")
        );
        std::fs::write(&f, "alpha-iters = \n").unwrap();
        assert!(
            expand(os(&["genbab", "verify", "--config", cfg]), known)
                .unwrap_err()
                .contains("not a TOML table")
        );
        let e = expand(os(&["genbab", "verify", "--config", "/nonexistent.toml"]), known).unwrap_err();
        assert!(e.starts_with("/nonexistent.toml: cannot read"), "{e}");
    }
}
