//! Who sent a request: the peer, or, when the peer is a trusted proxy, the client its
//! `X-Forwarded-For` names.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::settings::TrustedProxy;

/// The client's address. `X-Forwarded-For` is read right to left, past every trusted proxy,
/// so that a client cannot choose its own address by sending the header itself: only what
/// trusted proxies appended counts. Without a trusted peer the header is ignored.
pub fn client_address(request: &HttpRequest, trusted: &[TrustedProxy]) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip().to_canonical();
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    Some(resolve(peer, forwarded, trusted))
}

fn resolve<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[TrustedProxy],
) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.trim().parse::<IpAddr>() else {
            // Unreadable: the last address known good is as far as the chain can be trusted.
            break;
        };
        client = address.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|proxy| proxy.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let forwarded = ["203.0.113.7"].into_iter();
        assert_eq!(
            resolve(ip("198.51.100.1"), forwarded, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(resolve(ip("10.0.0.1"), [].into_iter(), &[]), ip("10.0.0.1"));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client sent a made-up first hop; only the hops the proxies appended count.
        let forwarded = ["1.2.3.4, 203.0.113.7", "10.0.0.5"].into_iter();
        assert_eq!(
            resolve(ip("192.0.2.1"), forwarded, &trusted),
            ip("203.0.113.7")
        );
        // Every hop trusted: the leftmost is the client.
        let forwarded = ["10.0.0.9,10.0.0.5"].into_iter();
        assert_eq!(resolve(ip("10.0.0.1"), forwarded, &trusted), ip("10.0.0.9"));
        // Garbage stops the walk at the last good hop.
        let forwarded = ["203.0.113.7, not-an-ip, 10.0.0.5"].into_iter();
        assert_eq!(resolve(ip("10.0.0.1"), forwarded, &trusted), ip("10.0.0.5"));
    }
}
