//! Where lines come from: a terminal with line editing and history
//! (rustyline), or plain standard input when it is a pipe or a file.

use crate::session::Printer;
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// One read from the user.
pub enum Input {
    /// A line, without its newline.
    Line(String),
    /// Ctrl-C.
    Interrupted,
    /// Ctrl-D or the end of the input.
    End,
}

/// A source of lines and the matching way to print from other threads.
pub trait LineSource {
    /// Reads the next line, showing `prompt` if there is a terminal.
    fn next_line(&mut self, prompt: &str) -> Input;
    /// A printer for the reader thread.
    fn printer(&self) -> Printer;
}

/// An interactive terminal: rustyline's editor, and its external printer,
/// which redraws the prompt and the half-typed line after each message.
pub struct Terminal {
    editor: DefaultEditor,
    printer: Printer,
}

impl Terminal {
    /// Sets up the editor.
    pub fn new() -> rustyline::Result<Terminal> {
        let mut editor = DefaultEditor::new()?;
        let external = Mutex::new(editor.create_external_printer()?);
        let printer: Printer = Arc::new(move |line: String| {
            let mut external = external.lock().unwrap_or_else(|p| p.into_inner());
            // Without a prompt on screen it writes the text as is: end the line.
            if external.print(format!("{line}\n")).is_err() {
                println!("{line}");
            }
        });
        Ok(Terminal { editor, printer })
    }
}

impl LineSource for Terminal {
    fn next_line(&mut self, prompt: &str) -> Input {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.editor.add_history_entry(line.as_str());
                }
                Input::Line(line)
            }
            Err(ReadlineError::Interrupted) => Input::Interrupted,
            Err(ReadlineError::Eof) => Input::End,
            Err(e) => {
                eprintln!("error: cannot read the terminal: {e}");
                Input::End
            }
        }
    }

    fn printer(&self) -> Printer {
        Arc::clone(&self.printer)
    }
}

/// Standard input that is not a terminal: one command or message per line,
/// no prompt, received messages printed as lines on standard output.
pub struct Piped {
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl Piped {
    /// Reads from standard input.
    pub fn new() -> Piped {
        Piped {
            lines: std::io::stdin().lock().lines(),
        }
    }
}

impl LineSource for Piped {
    fn next_line(&mut self, _prompt: &str) -> Input {
        match self.lines.next() {
            Some(Ok(line)) => Input::Line(line),
            Some(Err(e)) => {
                eprintln!("error: cannot read standard input: {e}");
                Input::End
            }
            None => Input::End,
        }
    }

    fn printer(&self) -> Printer {
        Arc::new(|line: String| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        })
    }
}
