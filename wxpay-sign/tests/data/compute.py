#!/usr/bin/env python3
"""Writes the test-vector folders beside this file.

Expected values are computed here with Python's hashlib/hmac, independently of the Rust
code under test, and the published values (spec §2.4 and the official vector) are asserted
before anything is written. Run from anywhere: `python3 wxpay-sign/tests/data/compute.py`.
Every file is written with exactly one trailing newline, which the tests strip.
"""
import hashlib
import hmac
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parents[2].parent / "shared" / "bench-fixtures"
KEY = "192006250b4c09247ec02edce69f6a2d"


def string_a(params):
    kept = [(k, v) for k, v in params if k != "sign" and v != ""]
    keys = [k for k, _ in kept]
    assert len(keys) == len(set(keys)), "duplicate key"
    kept.sort(key=lambda kv: kv[0].encode("utf-8"))
    return "&".join(f"{k}={v}" for k, v in kept)


def to_sign(params, key):
    a = string_a(params)
    return (a + "&" if a else "") + "key=" + key


def md5(params, key):
    return hashlib.md5(to_sign(params, key).encode("utf-8")).hexdigest().upper()


def hmac_sha256(params, key):
    msg = to_sign(params, key).encode("utf-8")
    return hmac.new(key.encode("utf-8"), msg, hashlib.sha256).hexdigest().upper()


def write(case, params, key, expect_md5=None, expect_hmac=None, expect_a=None):
    a = string_a(params)
    m = md5(params, key)
    h = hmac_sha256(params, key)
    if expect_a is not None:
        assert a == expect_a, (case, a)
    if expect_md5 is not None:
        assert m == expect_md5, (case, m)
    if expect_hmac is not None:
        assert h == expect_hmac, (case, h)
    d = HERE / case
    d.mkdir(exist_ok=True)
    for k, _ in params:
        assert "\n" not in k and "=" not in k
    files = {
        "params.txt": "\n".join(f"{k}={v}" for k, v in params),
        "key.txt": key,
        "string-a.txt": a,
        "string-to-sign-redacted.txt": (a + "&" if a else "") + "key=***",
        "sign-md5.txt": m,
        "sign-hmac-sha256.txt": h,
    }
    for name, text in files.items():
        (d / name).write_text(text + "\n", encoding="utf-8")
    print(f"{case}: MD5 {m} HMAC-SHA256 {h}")


OFFICIAL = [
    ("appid", "wxd930ea5d5a258f4f"),
    ("mch_id", "10000100"),
    ("device_info", "1000"),
    ("body", "test"),
    ("nonce_str", "ibuaiVcKdpRxkhJA"),
]
write(
    "official",
    OFFICIAL,
    KEY,
    expect_a="appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA",
    expect_md5="9A0A8659F005D6984697E2CA0A9CF3B7",
    expect_hmac="6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6",
)

SENDREDPACK = [
    ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
    ("mch_billno", "10000098201411111234567890"),
    ("mch_id", "10000098"),
    ("wxappid", "wx8888888888888888"),
    ("send_name", "天虹百货"),
    ("re_openid", "oxTWIuGaIt6gTKsQRLau2M0yL16E"),
    ("total_amount", "1000"),
    ("total_num", "1"),
    ("wishing", "感谢您参加猜灯谜活动，祝您元宵节快乐！"),
    ("client_ip", "192.168.0.1"),
    ("act_name", "猜灯谜抢红包活动"),
    ("remark", "猜越多得越多，快来抢！"),
    ("scene_id", "PRODUCT_8"),
    ("risk_info", "posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS"),
]
write("sendredpack-example", SENDREDPACK, KEY, expect_md5="C3F9EB2189E55B12B14CD761D1850A77")
write(
    "sendredpack-with-sign-type",
    SENDREDPACK + [("sign_type", "MD5")],
    KEY,
    expect_md5="A1968DBAA76C9608C85D4EE7E008694B",
)
write(
    "gethbinfo-example",
    [
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("mch_billno", "10000098201411111234567890"),
        ("mch_id", "10000098"),
        ("appid", "wxe062425f740d30d8"),
        ("bill_type", "MCHT"),
    ],
    KEY,
    expect_md5="3C2F21F0DA04C5D8BDAC3608066A3D42",
)

fixture = json.loads((FIXTURES / "request_params.json").read_text(encoding="utf-8"))
bench = list(fixture["params"].items())
assert len(bench) == 13
assert to_sign(bench, fixture["api_key"]) == (FIXTURES / "string_to_sign.txt").read_text(encoding="utf-8")
write("bench-fixture", bench, fixture["api_key"])

official_md5 = md5(OFFICIAL, KEY)
write("empty-value", OFFICIAL + [("attach", "")], KEY, expect_md5=official_md5)
write("sign-present", OFFICIAL + [("sign", "WHATEVER")], KEY, expect_md5=official_md5)
write(
    "non-ascii",
    [
        ("body", "腾讯充值中心-QQ会员充值"),
        ("attach", "深圳分店🧧红包🎉"),
        ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ("detail", "Ünïcödé ✓ 𝄞 한국어"),
    ],
    KEY,
)
write(
    "key-byte-order",
    [("Zeta", "1"), ("alpha", "2"), ("_x", "3"), ("A1", "4"), ("a", "5")],
    KEY,
    expect_a="A1=4&Zeta=1&_x=3&a=5&alpha=2",
)
write(
    "value-with-ampersand-and-equals",
    [
        ("attach", "a=1&b=2"),
        ("body", "x==y&&z"),
        ("risk_info", "posttime%3d123&mobile%3d1"),
        ("detail", "<xml>&amp;</xml>"),
    ],
    KEY,
    expect_a="attach=a=1&b=2&body=x==y&&z&detail=<xml>&amp;</xml>&risk_info=posttime%3d123&mobile%3d1",
)
write(
    "value-with-spaces",
    [("body", " leading and trailing "), ("attach", "two  spaces"), ("nonce_str", "abc")],
    KEY,
    expect_a="attach=two  spaces&body= leading and trailing &nonce_str=abc",
)
write(
    "sandbox-key",
    [("mch_id", "10000100"), ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")],
    "013467007045764",
)
