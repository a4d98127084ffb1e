use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let style = mirrorset::render::ReportStyle::for_stderr();
    miette::set_hook(Box::new(move |_| Box::new(style.handler()))).ok();
    match mirrorset::run(mirrorset::cli::Cli::parse()) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
