//! Wire enums keep unknown values; error codes carry their handling class.

use wxpay_proto::{
    AmtType, BillType, ErrCode, HandlingClass, HbType, NotifyWay, ResultCode, ReturnCode, SceneId,
    SendType, Status,
};

macro_rules! assert_round_trips {
    ($ty:ty) => {{
        for known in <$ty>::KNOWN {
            let parsed = <$ty>::from(known.as_str());
            assert_eq!(&parsed, known);
            assert!(parsed.is_known());
        }
        let unknown = <$ty>::from("SOMETHING_NEW");
        assert!(!unknown.is_known());
        assert_eq!(unknown.as_str(), "SOMETHING_NEW");
        assert_eq!(unknown.to_string(), "SOMETHING_NEW");
        assert_eq!("SOMETHING_NEW".parse::<$ty>().unwrap(), unknown);
    }};
}

#[test]
fn every_wire_enum_round_trips_known_and_unknown_values() {
    assert_round_trips!(ErrCode);
    assert_round_trips!(Status);
    assert_round_trips!(HbType);
    assert_round_trips!(SendType);
    assert_round_trips!(SceneId);
    assert_round_trips!(ReturnCode);
    assert_round_trips!(ResultCode);
    assert_round_trips!(AmtType);
    assert_round_trips!(NotifyWay);
    assert_round_trips!(BillType);
}

#[test]
fn the_refunding_status_keeps_its_misspelled_wire_value() {
    assert_eq!(Status::Refunding.as_str(), "RFUND_ING");
    assert_eq!(Status::from("RFUND_ING"), Status::Refunding);
    assert!(!Status::from("REFUNDING").is_known());
}

#[test]
fn error_codes_fall_into_the_handling_classes_of_the_spec() {
    use HandlingClass::{A, B, C, D};
    let table = [
        ("NO_AUTH", D),
        ("SENDNUM_LIMIT", B),
        ("SENDAMOUNT_LIMIT", B),
        ("RCVDAMOUNT_LIMIT", B),
        ("ILLEGAL_APPID", A),
        ("MONEY_LIMIT", A),
        ("SEND_FAILED", D),
        ("FATAL_ERROR", D),
        ("CA_ERROR", A),
        ("SIGN_ERROR", A),
        ("SYSTEMERROR", C),
        ("XML_ERROR", A),
        ("FREQ_LIMIT", B),
        ("API_METHOD_CLOSED", A),
        ("NOTENOUGH", B),
        ("OPENID_ERROR", A),
        ("MSGAPPID_ERROR", A),
        ("ACCEPTMODE_ERROR", A),
        ("PROCESSING", C),
        ("PARAM_ERROR", A),
        ("PRODUCT_AUTHORITY_UNOPEN", A),
        ("PAYER_ACCOUNT_ABNORMAL", A),
        ("SECOND_OVER_LIMITED", B),
        ("DAY_OVER_LIMITED", B),
        ("NOT_FOUND", C),
        ("268458547", C),
        ("A_CODE_FROM_2030", C),
    ];

    for (code, class) in table {
        assert_eq!(ErrCode::from(code).handling_class(), Some(class), "{code}");
    }
    // Every known error code is in the table, so none is classified by accident.
    for known in ErrCode::KNOWN.iter().filter(|c| !c.is_success()) {
        assert!(
            table.iter().any(|(code, _)| *code == known.as_str()),
            "{known:?} untested"
        );
    }
}

#[test]
fn success_markers_are_not_errors() {
    assert_eq!(ErrCode::Success.handling_class(), None);
    assert_eq!(ErrCode::from("0").handling_class(), None);
    assert!(ErrCode::from("0").is_success());
}

#[test]
fn only_send_failed_allows_a_new_billno_and_only_class_c_is_not_definitive() {
    for code in ErrCode::KNOWN {
        assert_eq!(
            code.allows_new_billno(),
            *code == ErrCode::SendFailed,
            "{code:?}"
        );
    }
    assert!(!HandlingClass::C.is_definitive());
    assert!(HandlingClass::A.is_definitive());
    assert!(HandlingClass::B.is_definitive());
    assert!(HandlingClass::D.is_definitive());
}

#[test]
fn terminal_and_issued_statuses() {
    assert!(Status::Received.is_terminal() && Status::Received.was_issued());
    assert!(Status::Refund.is_terminal() && Status::Refund.was_issued());
    assert!(Status::Failed.is_terminal() && !Status::Failed.was_issued());
    assert!(!Status::Sending.is_terminal() && !Status::Sending.was_issued());
    assert!(!Status::Sent.is_terminal() && Status::Sent.was_issued());
    assert!(!Status::Refunding.is_terminal() && Status::Refunding.was_issued());
}
