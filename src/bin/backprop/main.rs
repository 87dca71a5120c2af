//! `backprop`: train, evaluate, predict with and benchmark multilayer
//! perceptrons from the command line, and plot their training logs.
//!
//! Exit codes: 0 on success, 2 for a usage error (a bad flag or value), 130
//! or 143 for a training run stopped by SIGINT or SIGTERM (after it wrote
//! its checkpoint), 1 for anything else. An error the flags' parser finds is clap's message
//! (`error: …`, then its tip and the usage); every other error is one line
//! starting `error:`. Output to a
//! pipe that closes (`backprop train | head -1`) ends the program quietly
//! with status 141, as a shell reports a command killed by SIGPIPE.

mod bench;
mod common;
mod eval;
mod files;
mod inspect;
mod labels;
mod plot;
mod predict;
mod report;
mod train;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;

/// Multilayer perceptrons trained by backpropagation on CPUs.
#[derive(Parser, Debug)]
#[command(name = "backprop", version, about, propagate_version = true, arg_required_else_help = true)]
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
    /// Draw a run's loss and accuracy (or R²) against epochs from its --log, as SVG or PNG.
    Plot(plot::PlotArgs),
    /// Describe a data file as `train` would read it, or what a model file holds.
    Inspect(inspect::InspectArgs),
}

/// An error and the exit code it earns.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    msg: String,
    /// Every rank of a distributed run has this same failure (so none is
    /// left waiting, and no rank needs to end the others).
    shared: bool,
    /// Printed as it is, not as an `error:` line (an interrupted run's
    /// report).
    plain: bool,
}

impl Failure {
    /// A usage error (exit code 2): flags that contradict each other or
    /// the model they apply to.
    pub fn usage(msg: impl Into<String>) -> Self {
        Failure { code: 2, msg: msg.into(), shared: false, plain: false }
    }

    /// Standard output was closed: end quietly with 128 + SIGPIPE.
    pub fn broken_pipe() -> Self {
        Failure { code: 141, msg: String::new(), shared: false, plain: false }
    }

    /// A run that stopped when asked to (exit code 128 + the signal):
    /// `report`, as it is, on standard error.
    pub fn interrupted(code: u8, report: String) -> Self {
        Failure { code, msg: report, shared: false, plain: true }
    }

    /// The same failure, marked as one every rank of a run has.
    pub fn shared(self) -> Self {
        Failure { shared: true, ..self }
    }

    /// Writes the one `error:` line (none for a closed pipe).
    fn print(&self) {
        if self.plain {
            let _ = std::io::stderr().write_all(format!("{}\n", self.msg).as_bytes());
        } else if !self.msg.is_empty() {
            // One write, so that the lines of ranks sharing a stderr do not
            // interleave; a closed stderr leaves only the exit code to tell.
            let line = format!("error: {}\n", one_line(&self.msg));
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

impl From<backprop::Error> for Failure {
    /// Exit code 2 for a column choice the file cannot satisfy (a usage
    /// error, as a bad flag is), 1 for everything else.
    fn from(e: backprop::Error) -> Self {
        let code = if matches!(e.kind(), backprop::ErrorKind::BadChoice { .. }) { 2 } else { 1 };
        Failure { code, msg: e.to_string(), shared: false, plain: false }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::broken_pipe();
        }
        Failure { code: 1, msg: e.to_string(), shared: false, plain: false }
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
            // clap's whole message: its "error: …" line, then what it
            // suggests (a similar flag, the allowed values, the missing
            // arguments) and the usage; bare `backprop` gets the help with
            // the command list.
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(a) => train::run(*a, matches.subcommand_matches("train").unwrap_or(&matches)),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Inspect(a) => inspect::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.print();
            ExitCode::from(f.code)
        }
    }
}
