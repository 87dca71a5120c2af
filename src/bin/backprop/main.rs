//! `backprop`: train, evaluate, predict with and benchmark multilayer
//! perceptrons from the command line.
//!
//! Exit codes: 0 on success, 2 for a usage error (a bad flag or value), 1
//! for anything else; every error is one line starting `error:`.

mod bench;
mod common;
mod eval;
mod predict;
mod train;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Multilayer perceptrons trained by backpropagation on CPUs.
#[derive(Parser, Debug)]
#[command(name = "backprop", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model on CSV or MNIST IDX data and save it as safetensors.
    Train(Box<train::TrainArgs>),
    /// Score a saved model on labelled data: mean loss, then accuracy or RMSE and R².
    Eval(eval::EvalArgs),
    /// Write a saved model's outputs for each row of a data file as CSV.
    Predict(predict::PredictArgs),
    /// Measure training-step throughput on synthetic data.
    Bench(bench::BenchArgs),
}

/// An error and the exit code it earns.
pub struct Failure {
    code: u8,
    msg: String,
}

impl Failure {
    /// A usage error (exit code 2): flags that contradict each other or
    /// the model they apply to.
    pub fn usage(msg: impl Into<String>) -> Self {
        Failure { code: 2, msg: msg.into() }
    }
}

impl From<backprop::Error> for Failure {
    fn from(e: backprop::Error) -> Self {
        Failure { code: 1, msg: e.to_string() }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure { code: 1, msg: e.to_string() }
    }
}

/// One line, whatever the message held.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
    let parsed = Cli::command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first line is "error: …"; the usage lines after it are
            // dropped so that an error is always one line.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: invalid usage");
            eprintln!("{}", one_line(first));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(a) => train::run(*a, matches.subcommand_matches("train").unwrap_or(&matches)),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", one_line(&f.msg));
            ExitCode::from(f.code)
        }
    }
}
