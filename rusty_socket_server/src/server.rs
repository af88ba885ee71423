//! [`Server`]: binds the listening socket and runs the accept loop, on the
//! calling thread or on one of its own.

use crate::config::ServerConfig;
use crate::error::Result;
use crate::handle::ServerHandle;
use crate::handler::Handler;
use crate::shared::Shared;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// A bound server, not yet accepting. [`Server::run`] accepts on the
/// calling thread; [`Server::spawn`] on a thread of its own.
///
/// ```
/// use rusty_socket_server::{Handler, Server, ServerConfig};
/// struct Nothing;
/// impl Handler for Nothing {}
///
/// let server = Server::bind(ServerConfig::new("127.0.0.1:0"), Nothing)?;
/// let handle = server.spawn()?;
/// assert_eq!(handle.connection_count(), 0);
/// handle.shutdown(); // returns once every server thread has ended
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Server {
    /// Binds `config.bind_addr` and prepares to serve `handler`.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the address cannot be resolved or bound.
    pub fn bind(config: ServerConfig, handler: impl Handler) -> Result<Server> {
        let config = config.sanitized();
        let listener = TcpListener::bind(config.bind_addr.as_str())?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, Box::new(handler), local_addr));
        Ok(Server { shared, listener })
    }

    /// The address the server listens on (with the actual port when bound to
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle to the server, usable before it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(Arc::clone(&self.shared))
    }

    /// Accepts connections on the calling thread until
    /// [`ServerHandle::shutdown`] is called.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the writer threads cannot be started.
    /// Failures of single connections, and of `accept` itself, are logged
    /// and the loop goes on.
    pub fn run(self) -> Result<()> {
        crate::writer::Writers::start(&self.shared, self.shared.config.writer_threads)?;
        let guard = self.shared.count_this_thread();
        crate::accept::run(&self.shared, &self.listener);
        drop(self.listener);
        drop(guard);
        Ok(())
    }

    /// Accepts connections on a new thread and returns at once.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the threads cannot be spawned.
    pub fn spawn(self) -> Result<ServerHandle> {
        let handle = self.handle();
        let Server { shared, listener } = self;
        crate::writer::Writers::start(&shared, shared.config.writer_threads)?;
        let accept_shared = Arc::clone(&shared);
        shared.spawn("ws-accept", move || {
            crate::accept::run(&accept_shared, &listener)
        })?;
        Ok(handle)
    }
}
