//! The parameters of `wx.sendBizRedPacket` (spec §4.3): what a mini-program page needs to
//! hand a `sendminiprogramhb` packet to its user.

use serde::Serialize;
use wxpay_proto::{AppId, NonceStr};
use wxpay_sign::{ApiKey, SignType, sign};

use crate::error::Error;

/// The only `signType` the call supports.
pub const BIZ_RED_PACKET_SIGN_TYPE: &str = "MD5";

/// The five parameters of `wx.sendBizRedPacket`, ready for the page.
///
/// Serializes (e.g. to JSON) with the names the page passes on: `timeStamp`, `nonceStr`,
/// `package`, `signType`, `paySign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BizRedPacketParams {
    /// `timeStamp`: seconds since the Unix epoch, as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// `nonceStr`: a random string.
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `package`: the `package` of the `sendminiprogramhb` response, URL-encoded like PHP's
    /// `urlencode` (uppercase `%XX`).
    pub package: String,
    /// `signType`: always `MD5`.
    #[serde(rename = "signType")]
    pub sign_type: &'static str,
    /// `paySign`: lowercase hex MD5 over `appId`, `nonceStr`, `package` (encoded) and
    /// `timeStamp` (not `signType`) with the API key.
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// Computes the `wx.sendBizRedPacket` parameters for `package` (the response field, as
/// received), signed for the mini-program `appid` with the merchant's API key.
///
/// `paySign` = MD5 of `appId=…&nonceStr=…&package=<encoded>&timeStamp=…&key=<API key>`, as
/// lowercase hex (DESIGN §6.9). `signType` is sent but not signed.
///
/// ```
/// use wxpay_proto::{AppId, NonceStr};
/// use wxpay_redpack::biz_red_packet_params;
/// use wxpay_sign::ApiKey;
///
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d")?;
/// let params = biz_red_packet_params(
///     &AppId::new("wxd27ebc41b85ce36d")?,
///     &key,
///     "sendid=242e8abd&ver=8&sign=4110d6&mchid=11475856&appid=wxd27ebc41b85ce36d",
///     1_514_363_815,
///     &NonceStr::new("Ww213sdad")?,
/// )?;
/// assert_eq!(params.time_stamp, "1514363815");
/// assert!(params.package.starts_with("sendid%3D242e8abd%26ver%3D8"));
/// assert_eq!(params.pay_sign.len(), 32);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Unsupported`] for an empty `package`.
pub fn biz_red_packet_params(
    appid: &AppId,
    key: &ApiKey,
    package: &str,
    time_stamp: u64,
    nonce: &NonceStr,
) -> Result<BizRedPacketParams, Error> {
    if package.is_empty() {
        return Err(Error::Unsupported {
            field: "package",
            reason: "is empty: pass the `package` of a successful sendminiprogramhb response",
        });
    }
    let package = php_urlencode(package);
    let time_stamp = time_stamp.to_string();
    let signature = sign(
        SignType::Md5,
        key,
        [
            ("appId", appid.as_str()),
            ("nonceStr", nonce.as_str()),
            ("package", package.as_str()),
            ("timeStamp", time_stamp.as_str()),
        ],
    )
    .map_err(Error::Sign)?;
    Ok(BizRedPacketParams {
        time_stamp,
        nonce_str: nonce.as_str().to_owned(),
        package,
        sign_type: BIZ_RED_PACKET_SIGN_TYPE,
        pay_sign: signature.to_lowercase_string(),
    })
}

/// PHP's `urlencode`: ASCII letters, digits and `-_.` stay, a space becomes `+`, every other
/// byte becomes `%XX` with uppercase hex.
fn php_urlencode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spec's derived example (§4.3, paySign 89d724e4753f4400574062e016f012af) abbreviates
    // the documented package ("sign=4110d6…"), and the spec gives no full package, so it
    // cannot be reproduced. (The full-looking package seen elsewhere, with
    // "sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b2d3f5ce28ef", gives
    // 359d7fa45585c4223ef0faa26d191b54 with these inputs, not the spec's value: it is not the
    // package the spec computed with.) This full example uses the same key, appId, nonceStr
    // and timeStamp with a complete package. Cross-checked independently with:
    //
    //   python3 -c 'import hashlib,urllib.parse as u; p=u.quote_plus(PACKAGE, safe="-_.");
    //     print(p); print(hashlib.md5(("appId=wxd27ebc41b85ce36d&nonceStr=Ww213sdad&package="
    //     + p + "&timeStamp=1514363815&key=192006250b4c09247ec02edce69f6a2d").encode()).hexdigest())'
    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
    const APPID: &str = "wxd27ebc41b85ce36d";
    const NONCE: &str = "Ww213sdad";
    const TIME_STAMP: u64 = 1_514_363_815;
    const PACKAGE: &str = "sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672\
        &ver=8&sign=4110d6b1c3f7a9e2d5b8c0f4e6a1d3b5c7e9f0a2b4d6c8e0f1a3b5c7d9e2f4a6b8\
        &mchid=11475856&appid=wxd27ebc41b85ce36d";
    const PACKAGE_ENCODED: &str = "sendid%3D242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672\
        %26ver%3D8%26sign%3D4110d6b1c3f7a9e2d5b8c0f4e6a1d3b5c7e9f0a2b4d6c8e0f1a3b5c7d9e2f4a6b8\
        %26mchid%3D11475856%26appid%3Dwxd27ebc41b85ce36d";
    const PAY_SIGN: &str = "cb9047f91762dc2aee07ab76512113ca";

    fn params(package: &str) -> Result<BizRedPacketParams, Error> {
        biz_red_packet_params(
            &AppId::new(APPID).unwrap(),
            &ApiKey::new(KEY).unwrap(),
            package,
            TIME_STAMP,
            &NonceStr::new(NONCE).unwrap(),
        )
    }

    #[test]
    fn the_full_example_gives_the_independently_computed_pay_sign() {
        // Act
        let params = params(PACKAGE).unwrap();

        // Assert
        assert_eq!(params.package, PACKAGE_ENCODED);
        assert_eq!(params.pay_sign, PAY_SIGN);
        assert_eq!(params.time_stamp, "1514363815");
        assert_eq!(params.nonce_str, NONCE);
        assert_eq!(params.sign_type, "MD5");
    }

    #[test]
    fn sign_type_is_not_signed() {
        // The same string with `signType=MD5` included gives another digest.
        let with_sign_type = sign(
            SignType::Md5,
            &ApiKey::new(KEY).unwrap(),
            [
                ("appId", APPID),
                ("nonceStr", NONCE),
                ("package", PACKAGE_ENCODED),
                ("signType", "MD5"),
                ("timeStamp", "1514363815"),
            ],
        )
        .unwrap();
        assert_ne!(with_sign_type.to_lowercase_string(), PAY_SIGN);
    }

    #[test]
    fn the_package_is_encoded_like_php_urlencode() {
        assert_eq!(php_urlencode("a=b&c"), "a%3Db%26c");
        assert_eq!(php_urlencode("a b~+/*"), "a+b%7E%2B%2F%2A");
        assert_eq!(php_urlencode("-_.AZaz09"), "-_.AZaz09");
        assert_eq!(php_urlencode("红"), "%E7%BA%A2");
    }

    #[test]
    fn the_params_serialize_with_the_page_names() {
        let json = serde_json::to_value(params(PACKAGE).unwrap()).unwrap();
        assert_eq!(json["timeStamp"], "1514363815");
        assert_eq!(json["nonceStr"], NONCE);
        assert_eq!(json["package"], PACKAGE_ENCODED);
        assert_eq!(json["signType"], "MD5");
        assert_eq!(json["paySign"], PAY_SIGN);
    }

    #[test]
    fn an_empty_package_is_refused() {
        assert_eq!(params("").unwrap_err().field(), Some("package"));
    }
}
