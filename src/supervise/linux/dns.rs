//! DNS queries read from datagrams: any datagram that parses as a DNS query
//! (RFC 1035 header with QR = 0, one to 16 questions with uncompressed names)
//! is one, whatever its port — a resolver on `127.0.0.1:5353` counts too.

/// The question names of a DNS query (lowercase, without the trailing dot),
/// or `None` when `b` is not a DNS query.
pub fn query_names(b: &[u8]) -> Option<Vec<String>> {
    if b.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    if flags & 0x8000 != 0 {
        return None; // a response
    }
    let opcode = (flags >> 11) & 0xf;
    if opcode > 2 && opcode != 4 && opcode != 5 {
        return None;
    }
    let qd = u16::from_be_bytes([b[4], b[5]]) as usize;
    if qd == 0 || qd > 16 {
        return None;
    }
    let mut at = 12;
    let mut names = Vec::with_capacity(qd);
    for _ in 0..qd {
        let mut labels: Vec<String> = Vec::new();
        let mut total = 0usize;
        loop {
            let len = *b.get(at)? as usize;
            at += 1;
            if len == 0 {
                break;
            }
            if len > 63 {
                return None; // compression pointers have no place in a question
            }
            total += len + 1;
            if total > 255 {
                return None;
            }
            let label = b.get(at..at + len)?;
            at += len;
            labels.push(
                label
                    .iter()
                    .map(|&c| {
                        let c = c.to_ascii_lowercase();
                        if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                            (c as char).to_string()
                        } else {
                            format!("\\{c:03}")
                        }
                    })
                    .collect(),
            );
        }
        let qclass = u16::from_be_bytes([*b.get(at + 2)?, *b.get(at + 3)?]);
        if !matches!(qclass, 1 | 3 | 4 | 254 | 255) {
            return None;
        }
        at += 4;
        names.push(labels.join("."));
    }
    Some(names)
}

/// A query for `name` (type A), as a resolver would send it.
pub fn build_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.trim_end_matches('.').split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = build_query(7, "Reg.Example.com.");
        assert_eq!(query_names(&q), Some(vec!["reg.example.com".to_string()]));
        let mut two = q.clone();
        two[5] = 2;
        two.extend_from_slice(&q[12..]);
        assert_eq!(query_names(&two).unwrap().len(), 2);
        // A response, a truncated packet, a pointer, a bad class, no question.
        let mut resp = q.clone();
        resp[2] |= 0x80;
        assert_eq!(query_names(&resp), None);
        assert_eq!(query_names(&q[..q.len() - 1]), None);
        let mut ptr = q.clone();
        ptr[12] = 0xc0;
        assert_eq!(query_names(&ptr), None);
        let mut class = q.clone();
        let n = class.len();
        class[n - 1] = 9;
        assert_eq!(query_names(&class), None);
        let mut none = q.clone();
        none[5] = 0;
        assert_eq!(query_names(&none), None);
        assert_eq!(query_names(b"GET / HTTP/1.1\r\n"), None);
        // Odd bytes are escaped, never passed through.
        let odd = build_query(1, "a\nb.test");
        assert_eq!(query_names(&odd), Some(vec!["a\\010b.test".to_string()]));
    }
}
