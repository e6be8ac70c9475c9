//! The optional TOML configuration file of `serve` and `config`.
//!
//! Precedence: flags, then `ENDOCARP_*` variables, then the file, then defaults. clap
//! already layers flags over variables over defaults; the file slots in by turning each of
//! its settings that clap took from a default into a flag, and parsing again. So a file
//! value goes through the same parser (and the same checks) as the flag, and a bad one is
//! reported with the file and the setting's name.
//!
//! Keys are the settings' names as `endocarp config` prints them (`max_staleness`,
//! `database_url`, ...). An unknown key is an error: a typo must not silently fall back to
//! a default.

use super::Cli;
use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::path::Path;

/// Parses the command line, then folds in the configuration file when `serve` or
/// `config` names one (`--config` or `ENDOCARP_CONFIG`). Command-line mistakes exit the
/// way clap does; file mistakes are errors naming the file and the setting.
pub fn parse(args: Vec<OsString>) -> anyhow::Result<Cli> {
    let matches = Cli::command().get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let (sub, settings) = match &cli.command {
        super::Cmd::Serve(s) => ("serve", s),
        super::Cmd::Config(s) => ("config", s),
        _ => return Ok(cli),
    };
    let Some(path) = settings.config.clone() else {
        return Ok(cli);
    };
    let Some(sub_matches) = matches.subcommand_matches(sub) else {
        return Ok(cli);
    };
    let file_args = file_flags(&path, |id| sub_matches.value_source(id))?;
    if file_args.is_empty() {
        return Ok(cli);
    }
    let mut all = args.clone();
    all.extend(file_args.iter().map(|(_, flag)| OsString::from(flag)));
    match Cli::try_parse_from_args(all) {
        Ok(cli) => Ok(cli),
        Err(e) => {
            // Name the setting when one value alone is bad.
            for (key, flag) in &file_args {
                let mut one = args.clone();
                one.push(OsString::from(flag));
                if let Err(e) = Cli::try_parse_from_args(one)
                    && matches!(
                        e.kind(),
                        clap::error::ErrorKind::InvalidValue | clap::error::ErrorKind::ValueValidation
                    )
                {
                    bail!("config file {}: {key}: {}", path.display(), first_line(&e));
                }
            }
            bail!("config file {}: {}", path.display(), first_line(&e))
        }
    }
}

impl Cli {
    fn try_parse_from_args(args: Vec<OsString>) -> Result<Cli, clap::Error> {
        let matches = Cli::command().try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }
}

fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

/// The file's settings as `--flag=value`, for every setting that did not come from the
/// command line or the environment. `source` tells where clap took a setting from.
fn file_flags(path: &Path, source: impl Fn(&str) -> Option<ValueSource>) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "config file {}: not valid TOML: {}",
            path.display(),
            e.to_string().trim()
        )
    })?;
    let known = setting_names();
    let mut flags = Vec::new();
    for (key, value) in table {
        if key == "config" {
            bail!(
                "config file {}: config: a config file cannot name another",
                path.display()
            );
        }
        let Some(long) = known.iter().find(|(id, _)| *id == key).map(|(_, long)| long.clone()) else {
            bail!(
                "config file {}: unknown setting {key:?} (known: {})",
                path.display(),
                known.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
            );
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "config file {}: {key}: expected a string, an integer or a boolean, found {}",
                path.display(),
                other.type_str()
            ),
        };
        if matches!(source(&key), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        flags.push((key, format!("--{long}={value}")));
    }
    Ok(flags)
}

/// (setting id, long flag) for every setting of `serve`.
fn setting_names() -> Vec<(String, String)> {
    let cmd = Cli::command();
    let Some(serve) = cmd.find_subcommand("serve") else {
        return Vec::new();
    };
    serve
        .get_arguments()
        .filter_map(|a| Some((a.get_id().to_string(), a.get_long()?.to_string())))
        .filter(|(id, _)| id != "help" && id != "token" && id != "tls_ca")
        .collect()
}

#[cfg(test)]
mod tests;
