//! FastCGI (`fastcgi_pass`): the protocol's records (`record`), encoded into and
//! decoded from byte buffers that the event loop's relay reads and writes.

pub mod record;
