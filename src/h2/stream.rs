//! One stream's state (RFC 9113 §5.1) and its two flow-control windows (§5.2, §6.9).
//! Idle and closed streams have no entry: the session tells them apart by id.

/// The states a stream with an entry can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// The peer sent END_STREAM: the request is complete, the response is not.
    HalfClosedRemote,
    /// We sent END_STREAM; the request body is still arriving.
    HalfClosedLocal,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub state: State,
    /// DATA bytes we may still send (may go negative after a SETTINGS change, §6.9.2).
    pub send_window: i64,
    /// DATA bytes the peer may still send.
    pub recv_window: i64,
    /// Body bytes the server consumed that no WINDOW_UPDATE has returned yet.
    pub unacked: u32,
    /// The request's content-length, checked against the DATA received (§8.1.1).
    pub content_length: Option<u64>,
    /// Request body bytes received so far.
    pub received: u64,
    /// We sent the response HEADERS (a peer's reset of an unanswered stream is what a
    /// rapid-reset attack looks like).
    pub answered: bool,
    /// A `send_data` stopped at this stream's window: announce when it opens.
    pub blocked: bool,
}

impl Stream {
    pub fn new(end_stream: bool, send_window: u32, recv_window: u32) -> Stream {
        Stream {
            state: if end_stream {
                State::HalfClosedRemote
            } else {
                State::Open
            },
            send_window: i64::from(send_window),
            recv_window: i64::from(recv_window),
            unacked: 0,
            content_length: None,
            received: 0,
            answered: false,
            blocked: false,
        }
    }

    pub fn remote_open(&self) -> bool {
        self.state != State::HalfClosedRemote
    }

    pub fn local_open(&self) -> bool {
        self.state != State::HalfClosedLocal
    }

    /// The content-length check at END_STREAM.
    pub fn length_matches(&self) -> bool {
        self.content_length.is_none_or(|n| n == self.received)
    }
}
