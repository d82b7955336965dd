//! Messages of the PostgreSQL protocol 3.0: frontend ones are read from a
//! socket and parsed; backend ones are appended to a write buffer.
//!
//! INVARIANT: nothing read from the network is trusted — every length is
//! bounded ([`MAX_MESSAGE`]) and every field is checked to lie inside its
//! message, so a malformed message is a [`ProtocolError`], never a panic.

use bytes::{BufMut, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::cancel::BackendKey;

/// The largest frontend message accepted (bytes, length field included).
pub const MAX_MESSAGE: usize = 64 << 20;

/// The largest message accepted before the client has logged in (a
/// password or SASL message): a stranger cannot make the node allocate
/// more.
pub const MAX_AUTH_MESSAGE: usize = 8 << 10;

/// The largest startup packet accepted (PostgreSQL's own limit).
pub const MAX_STARTUP: usize = 10_000;

/// Protocol version 3.0, as sent in a StartupMessage.
pub const PROTOCOL_3_0: i32 = 196_608;
/// The code of an SSLRequest in place of a protocol version.
pub const SSL_REQUEST: i32 = 80_877_103;
/// The code of a GSSENCRequest.
pub const GSSENC_REQUEST: i32 = 80_877_104;
/// The code of a CancelRequest.
pub const CANCEL_REQUEST: i32 = 80_877_102;

/// Why a connection must be closed: the client broke the protocol or the
/// socket failed. The connection answers with a FATAL error if it can.
#[derive(Debug, Error)]
pub enum ProtocolError {
    /// The socket failed or the client went away.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A message is malformed: close the connection (SQLSTATE 08P01).
    #[error("protocol violation: {0}")]
    Malformed(String),
    /// The client did not prove the password: close the connection
    /// (SQLSTATE 28P01).
    #[error("{0}")]
    AuthFailed(String),
    /// The client may not log in as it asked: close the connection
    /// (SQLSTATE 28000).
    #[error("{0}")]
    NotAuthorized(String),
    /// The cluster could not answer who the client is: close the
    /// connection (SQLSTATE 08006).
    #[error("{0}")]
    Unavailable(String),
    /// A setting in the startup packet has a value it cannot take:
    /// close the connection (SQLSTATE 22023).
    #[error("{0}")]
    BadSetting(String),
}

fn malformed(what: impl Into<String>) -> ProtocolError {
    ProtocolError::Malformed(what.into())
}

/// The first packet of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// StartupMessage: protocol 3.0 and its `name → value` parameters.
    Start(Vec<(String, String)>),
    /// SSLRequest: answered `N`; the client then starts in plain text.
    Ssl,
    /// GSSENCRequest: answered `N` too.
    GssEnc,
    /// CancelRequest: cancel the running statement of the session with
    /// this key; the connection is then closed without an answer.
    Cancel(BackendKey),
}

/// Reads the first packet of a connection (it has no type byte).
pub async fn read_startup<R: AsyncRead + Unpin>(r: &mut R) -> Result<Startup, ProtocolError> {
    let len = r.read_i32().await?;
    let len = usize::try_from(len).map_err(|_| malformed("negative startup length"))?;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(malformed(format!("startup packet of {len} bytes")));
    }
    let mut body = vec![0; len - 4];
    r.read_exact(&mut body).await?;
    let mut b = Body::new(&body);
    match b.i32()? {
        SSL_REQUEST => Ok(Startup::Ssl),
        GSSENC_REQUEST => Ok(Startup::GssEnc),
        CANCEL_REQUEST => Ok(Startup::Cancel(BackendKey {
            pid: b.i32()?,
            secret: b.i32()?,
        })),
        PROTOCOL_3_0 => {
            let mut params = Vec::new();
            loop {
                let name = b.cstr()?;
                if name.is_empty() {
                    break;
                }
                params.push((name, b.cstr()?));
            }
            Ok(Startup::Start(params))
        }
        v => Err(malformed(format!(
            "unsupported protocol version {}.{}",
            v >> 16,
            v & 0xffff
        ))),
    }
}

/// Which object a Describe or Close names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

/// A frontend message after startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    /// Query: a script in the simple protocol.
    Query(String),
    /// Parse: prepare `sql` as `name` with declared parameter type OIDs
    /// (0: unspecified).
    Parse {
        /// Statement name ("" is the unnamed statement).
        name: String,
        /// The statement's text.
        sql: String,
        /// Declared parameter types.
        param_types: Vec<u32>,
    },
    /// Bind: make portal `portal` from statement `statement` and values.
    Bind {
        /// Portal name ("" is the unnamed portal).
        portal: String,
        /// Statement name.
        statement: String,
        /// Parameter format codes (0 text, 1 binary): none means all
        /// text, one applies to all.
        param_formats: Vec<i16>,
        /// Parameter values (`None`: NULL).
        params: Vec<Option<Vec<u8>>>,
        /// Result column format codes, same convention.
        result_formats: Vec<i16>,
    },
    /// Describe a statement or a portal.
    Describe(Target, String),
    /// Execute a portal, returning at most `max_rows` rows (0: all).
    Execute {
        /// Portal name.
        portal: String,
        /// Row limit (0: no limit).
        max_rows: i32,
    },
    /// Close a statement or a portal.
    Close(Target, String),
    /// Sync: end of an extended-protocol batch; answered ReadyForQuery.
    Sync,
    /// Flush: send what is buffered.
    Flush,
    /// Terminate: the client is leaving.
    Terminate,
    /// A password message (`p`): during authentication, a
    /// SASLInitialResponse or SASLResponse, kept raw (see
    /// [`sasl_initial_response`]).
    Password(Vec<u8>),
    /// CopyData: a chunk of COPY … FROM STDIN's data.
    CopyData(Vec<u8>),
    /// CopyDone: the end of COPY … FROM STDIN's data.
    CopyDone,
    /// CopyFail: the client gives COPY … FROM STDIN up, saying why.
    CopyFail(String),
    /// Any other message (function calls…): refused.
    Other(u8),
}

/// Reads one frontend message. `Ok(None)` is a clean end of stream
/// between messages.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<Frontend>, ProtocolError> {
    read_message_within(r, MAX_MESSAGE).await
}

/// [`read_message`] of a message of at most `max` bytes (before login:
/// [`MAX_AUTH_MESSAGE`]).
pub async fn read_message_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Frontend>, ProtocolError> {
    let kind = match r.read_u8().await {
        Ok(k) => k,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = r.read_i32().await?;
    let len = usize::try_from(len).map_err(|_| malformed("negative message length"))?;
    if !(4..=max).contains(&len) {
        return Err(malformed(format!(
            "message of {len} bytes (at most {max} here)"
        )));
    }
    let mut body = vec![0; len - 4];
    r.read_exact(&mut body).await?;
    parse(kind, &body).map(Some)
}

/// Parses the body of a frontend message of type `kind`.
pub fn parse(kind: u8, body: &[u8]) -> Result<Frontend, ProtocolError> {
    let mut b = Body::new(body);
    let msg = match kind {
        b'Q' => Frontend::Query(b.cstr()?),
        b'P' => {
            let name = b.cstr()?;
            let sql = b.cstr()?;
            let n = b.count()?;
            let param_types = (0..n)
                .map(|_| b.i32().map(|t| t as u32))
                .collect::<Result<_, _>>()?;
            Frontend::Parse {
                name,
                sql,
                param_types,
            }
        }
        b'B' => {
            let portal = b.cstr()?;
            let statement = b.cstr()?;
            let n = b.count()?;
            let param_formats = (0..n).map(|_| b.i16()).collect::<Result<_, _>>()?;
            let n = b.count()?;
            let mut params = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let len = b.i32()?;
                params.push(if len < 0 {
                    None
                } else {
                    Some(b.bytes(len as usize)?.to_vec())
                });
            }
            let n = b.count()?;
            let result_formats = (0..n).map(|_| b.i16()).collect::<Result<_, _>>()?;
            Frontend::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' | b'C' => {
            let target = match b.u8()? {
                b'S' => Target::Statement,
                b'P' => Target::Portal,
                t => return Err(malformed(format!("describe/close target {t:#x}"))),
            };
            let name = b.cstr()?;
            if kind == b'D' {
                Frontend::Describe(target, name)
            } else {
                Frontend::Close(target, name)
            }
        }
        b'E' => Frontend::Execute {
            portal: b.cstr()?,
            max_rows: b.i32()?,
        },
        b'S' => Frontend::Sync,
        b'H' => Frontend::Flush,
        b'X' => Frontend::Terminate,
        b'p' => Frontend::Password(body.to_vec()),
        b'd' => Frontend::CopyData(body.to_vec()),
        b'c' => Frontend::CopyDone,
        b'f' => Frontend::CopyFail(b.cstr()?),
        other => return Ok(Frontend::Other(other)),
    };
    Ok(msg)
}

/// The mechanism and the client-first-message of a SASLInitialResponse.
pub fn sasl_initial_response(body: &[u8]) -> Result<(String, Vec<u8>), ProtocolError> {
    let mut b = Body::new(body);
    let mechanism = b.cstr()?;
    let len = b.i32()?;
    let data = match usize::try_from(len) {
        Ok(n) => b.bytes(n)?.to_vec(),
        Err(_) => Vec::new(),
    };
    Ok((mechanism, data))
}

/// A cursor over a message body; every read is bounds-checked.
struct Body<'a> {
    buf: &'a [u8],
}

impl<'a> Body<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.buf.len() {
            return Err(malformed("a field runs past the end of its message"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.bytes(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.bytes(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An Int16 count, which must not be negative.
    fn count(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(self.i16()?).map_err(|_| malformed("negative count"))
    }

    /// A NUL-terminated UTF-8 string.
    fn cstr(&mut self) -> Result<String, ProtocolError> {
        let end = self
            .buf
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| malformed("a string without its NUL terminator"))?;
        let s = std::str::from_utf8(&self.buf[..end])
            .map_err(|_| malformed("a string that is not UTF-8"))?
            .to_string();
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
}

/// Transaction status in ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InBlock,
    /// `E`: in a failed transaction block (only ROLLBACK is accepted).
    Failed,
}

/// A column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type size (-1: variable).
    pub type_size: i16,
    /// Format code: 0 text, 1 binary.
    pub format: i16,
}

/// Appends backend messages to a write buffer.
#[derive(Debug, Default)]
pub struct Out {
    /// Bytes not yet written to the socket.
    pub buf: BytesMut,
}

impl Out {
    /// Appends a message of type `kind` whose body `body` writes.
    fn message(&mut self, kind: u8, body: impl FnOnce(&mut BytesMut)) {
        self.buf.put_u8(kind);
        let at = self.buf.len();
        self.buf.put_i32(0);
        body(&mut self.buf);
        let len = (self.buf.len() - at) as i32;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The answer to an SSLRequest or GSSENCRequest: not supported.
    pub fn refuse_encryption(&mut self) {
        self.buf.put_u8(b'N');
    }

    /// AuthenticationOk.
    pub fn authentication_ok(&mut self) {
        self.message(b'R', |b| b.put_i32(0));
    }

    /// AuthenticationSASL: the mechanisms the client may choose from.
    pub fn authentication_sasl(&mut self, mechanisms: &[&str]) {
        self.message(b'R', |b| {
            b.put_i32(10);
            for m in mechanisms {
                put_cstr(b, m);
            }
            b.put_u8(0);
        });
    }

    /// AuthenticationSASLContinue (`final_ = false`) or
    /// AuthenticationSASLFinal with the mechanism's `data`.
    pub fn authentication_sasl_step(&mut self, final_: bool, data: &[u8]) {
        self.message(b'R', |b| {
            b.put_i32(if final_ { 12 } else { 11 });
            b.put_slice(data);
        });
    }

    /// ParameterStatus.
    pub fn parameter_status(&mut self, name: &str, value: &str) {
        self.message(b'S', |b| {
            put_cstr(b, name);
            put_cstr(b, value);
        });
    }

    /// BackendKeyData: what a CancelRequest for this session quotes.
    pub fn backend_key_data(&mut self, key: BackendKey) {
        self.message(b'K', |b| {
            b.put_i32(key.pid);
            b.put_i32(key.secret);
        });
    }

    /// ReadyForQuery.
    pub fn ready_for_query(&mut self, status: TxnStatus) {
        let s = match status {
            TxnStatus::Idle => b'I',
            TxnStatus::InBlock => b'T',
            TxnStatus::Failed => b'E',
        };
        self.message(b'Z', |b| b.put_u8(s));
    }

    /// RowDescription.
    pub fn row_description(&mut self, fields: &[FieldDescription]) {
        self.message(b'T', |b| {
            b.put_i16(fields.len() as i16);
            for f in fields {
                put_cstr(b, &f.name);
                b.put_i32(0); // table OID
                b.put_i16(0); // column number
                b.put_u32(f.type_oid);
                b.put_i16(f.type_size);
                b.put_i32(-1); // type modifier
                b.put_i16(f.format);
            }
        });
    }

    /// DataRow (`None`: NULL).
    pub fn data_row(&mut self, values: &[Option<Vec<u8>>]) {
        self.message(b'D', |b| {
            b.put_i16(values.len() as i16);
            for v in values {
                match v {
                    None => b.put_i32(-1),
                    Some(v) => {
                        b.put_i32(v.len() as i32);
                        b.put_slice(v);
                    }
                }
            }
        });
    }

    /// CopyInResponse (`G`) or CopyOutResponse (`H`): text format, for
    /// `columns` columns.
    pub fn copy_response(&mut self, out: bool, columns: usize) {
        self.message(if out { b'H' } else { b'G' }, |b| {
            b.put_u8(0);
            b.put_i16(i16::try_from(columns).unwrap_or(i16::MAX));
            for _ in 0..columns {
                b.put_i16(0);
            }
        });
    }

    /// CopyData.
    pub fn copy_data(&mut self, data: &[u8]) {
        self.message(b'd', |b| b.put_slice(data));
    }

    /// CopyDone.
    pub fn copy_done(&mut self) {
        self.message(b'c', |_| {});
    }

    /// CommandComplete.
    pub fn command_complete(&mut self, tag: &str) {
        self.message(b'C', |b| put_cstr(b, tag));
    }

    /// EmptyQueryResponse.
    pub fn empty_query(&mut self) {
        self.message(b'I', |_| {});
    }

    /// ErrorResponse with `severity` (ERROR or FATAL), SQLSTATE and text.
    pub fn error(&mut self, severity: &str, code: &str, message: &str) {
        self.message(b'E', |b| {
            for (field, value) in [(b'S', severity), (b'V', severity), (b'C', code)] {
                b.put_u8(field);
                put_cstr(b, value);
            }
            b.put_u8(b'M');
            put_cstr(b, message);
            b.put_u8(0);
        });
    }

    /// ParseComplete.
    pub fn parse_complete(&mut self) {
        self.message(b'1', |_| {});
    }

    /// BindComplete.
    pub fn bind_complete(&mut self) {
        self.message(b'2', |_| {});
    }

    /// CloseComplete.
    pub fn close_complete(&mut self) {
        self.message(b'3', |_| {});
    }

    /// NoData: the statement or portal returns no rows.
    pub fn no_data(&mut self) {
        self.message(b'n', |_| {});
    }

    /// PortalSuspended: Execute stopped at its row limit.
    pub fn portal_suspended(&mut self) {
        self.message(b's', |_| {});
    }

    /// ParameterDescription.
    pub fn parameter_description(&mut self, types: &[u32]) {
        self.message(b't', |b| {
            b.put_i16(types.len() as i16);
            for t in types {
                b.put_u32(*t);
            }
        });
    }
}

/// Appends a NUL-terminated string. NB: a NUL inside `s` would end the
/// field early on the client's side, so it is dropped.
fn put_cstr(b: &mut BytesMut, s: &str) {
    b.extend(s.bytes().filter(|&c| c != 0));
    b.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_bind_is_malformed_not_a_panic() {
        let mut body = b"p\0s\0".to_vec();
        body.extend(1i16.to_be_bytes());
        assert!(matches!(
            parse(b'B', &body),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            parse(b'Q', b"no nul"),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(parse(b'D', b""), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn message_lengths_include_themselves() {
        let mut out = Out::default();
        out.ready_for_query(TxnStatus::InBlock);
        assert_eq!(&out.buf[..], &[b'Z', 0, 0, 0, 5, b'T']);
    }
}
