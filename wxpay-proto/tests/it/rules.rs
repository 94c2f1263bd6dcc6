//! The business rules of spec §5.

use wxpay_proto::rules::{self, AmountLimits, SendKind};
use wxpay_proto::{
    AmtType, ApiRequest, AppId, BillType, ErrCode, Error, Fen, MchId, NotifyWay, SceneId,
    SendApiRequest,
};

use crate::support::{group_example, mini_example, query_example, sendredpack_example};

fn code(result: Result<(), Error>) -> Option<ErrCode> {
    result.err().map(|e| e.err_code())
}

#[test]
fn normal_and_mini_packets_need_total_num_one() {
    assert_eq!(code(rules::check_total_num(SendKind::Normal, 1)), None);
    let err = rules::check_total_num(SendKind::Normal, 2).unwrap_err();
    assert_eq!(err.err_code(), ErrCode::ParamError);
    assert_eq!(err.wire_description(), "参数错误:total_num必须等于1");
    assert!(rules::check_total_num(SendKind::MiniProgram, 0).is_err());
}

#[test]
fn group_packets_need_three_to_twenty() {
    for n in [3, 10, 20] {
        assert!(rules::check_total_num(SendKind::Group, n).is_ok(), "{n}");
    }
    for n in [0, 1, 2, 21, u32::MAX] {
        let err = rules::check_total_num(SendKind::Group, n).unwrap_err();
        assert_eq!(
            err.wire_description(),
            "参数错误:total_num必须介于(包括)3到20之间.",
            "{n}"
        );
    }
}

#[test]
fn scene_id_is_required_outside_one_to_two_hundred_yuan() {
    let scene = SceneId::Product2;
    for fen in [100, 1000, 20_000] {
        assert!(
            rules::check_scene_required(Fen::new(fen), 1, None).is_ok(),
            "{fen}"
        );
    }
    for fen in [0, 99, 20_001, 500_000] {
        let err = rules::check_scene_required(Fen::new(fen), 1, None).unwrap_err();
        assert_eq!(err.err_code(), ErrCode::ParamError, "{fen}");
        assert_eq!(err.field_name(), Some("scene_id"));
        assert!(rules::check_scene_required(Fen::new(fen), 1, Some(&scene)).is_ok());
    }
}

#[test]
fn a_group_below_one_yuan_on_average_is_a_money_limit_not_a_missing_scene() {
    let mut group = group_example();
    group.total_amount = Fen::new(299);
    group.total_num = 3;

    assert!(group.validate().is_ok());
    let err = rules::check_amount(
        SendKind::Group,
        group.total_amount,
        3,
        None,
        &AmountLimits::DEFAULT,
    )
    .unwrap_err();
    assert_eq!(err.err_code(), ErrCode::MoneyLimit);
}

#[test]
fn amount_range_depends_on_the_scene() {
    let limits = AmountLimits::DEFAULT;
    let scene = SceneId::Product1;
    let check =
        |fen, scene| rules::check_amount(SendKind::Normal, Fen::new(fen), 1, scene, &limits);

    assert_eq!(code(check(100, None)), None);
    assert_eq!(code(check(20_000, None)), None);
    assert_eq!(code(check(99, None)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(20_001, None)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(30, Some(&scene))), None);
    assert_eq!(code(check(29, Some(&scene))), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(499_900, Some(&scene))), None);
    assert_eq!(
        code(check(499_901, Some(&scene))),
        Some(ErrCode::MoneyLimit)
    );
    assert_eq!(
        check(1, None).unwrap_err().wire_description(),
        "每个红包的平均金额必须在1.00元到200.00元之间."
    );
}

#[test]
fn a_group_average_must_be_one_to_two_hundred_yuan_without_rounding_into_range() {
    let limits = AmountLimits::DEFAULT;
    let check = |fen, num| rules::check_amount(SendKind::Group, Fen::new(fen), num, None, &limits);

    assert_eq!(code(check(300, 3)), None);
    assert_eq!(code(check(60_000, 3)), None);
    // 299 / 3 rounds down to 99: below; 302 / 3 would round to 100 but 2 fen short of 3 × 100.
    assert_eq!(code(check(299, 3)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(60_003, 3)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(0, 0)), Some(ErrCode::MoneyLimit));
}

#[test]
fn a_group_average_a_fraction_of_a_fen_above_the_maximum_is_a_money_limit() {
    let limits = AmountLimits::DEFAULT;
    let check = |fen, num| rules::check_amount(SendKind::Group, Fen::new(fen), num, None, &limits);

    // 60 001 / 3 and 60 002 / 3 round down to 20 000 but are above 200 yuan on average.
    assert_eq!(code(check(60_000, 3)), None);
    assert_eq!(code(check(60_001, 3)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(60_002, 3)), Some(ErrCode::MoneyLimit));
    assert_eq!(code(check(400_000, 20)), None);
    assert_eq!(code(check(400_001, 20)), Some(ErrCode::MoneyLimit));
}

#[test]
fn a_group_maximum_too_large_to_multiply_lets_any_total_through() {
    let mut limits = AmountLimits::DEFAULT;
    limits.group_average_max = Fen::new(u64::MAX / 2);

    // max × 3 overflows: no total can be above it.
    let result = rules::check_amount(SendKind::Group, Fen::new(u64::MAX), 3, None, &limits);

    assert_eq!(code(result), None);
}

#[test]
fn limits_are_configurable() {
    let mut limits = AmountLimits::DEFAULT;
    limits.max = Fen::new(500);

    let err = rules::check_amount(SendKind::Normal, Fen::new(501), 1, None, &limits).unwrap_err();

    assert_eq!(
        err.wire_description(),
        "每个红包的平均金额必须在1.00元到5.00元之间."
    );
}

#[test]
fn each_request_validates_its_own_rules() {
    let mut normal = sendredpack_example();
    assert!(normal.validate().is_ok());
    normal.total_num = 3;
    assert_eq!(
        normal.validate().unwrap_err().field_name(),
        Some("total_num")
    );

    let mut partner = sendredpack_example();
    partner.sub_mch_id = Some(MchId::new("10000090").unwrap());
    assert_eq!(
        partner.validate().unwrap_err().field_name(),
        Some("msgappid")
    );
    partner.msgappid = Some(AppId::new("wx8888888888888888").unwrap());
    assert!(partner.validate().is_ok());

    let mut group = group_example();
    assert!(group.validate().is_ok());
    group.amt_type = AmtType::from("FIX");
    assert_eq!(group.validate().unwrap_err().field_name(), Some("amt_type"));

    let mut mini = mini_example();
    assert!(mini.validate().is_ok());
    mini.notify_way = NotifyWay::from("OTHER");
    assert_eq!(
        mini.validate().unwrap_err().field_name(),
        Some("notify_way")
    );

    let mut query = query_example();
    assert!(query.validate().is_ok());
    query.bill_type = BillType::from("OTHER");
    assert_eq!(
        query.validate().unwrap_err().field_name(),
        Some("bill_type")
    );
}

#[test]
fn a_large_packet_without_scene_fails_validation_and_passes_with_one() {
    let mut request = sendredpack_example();
    request.total_amount = Fen::new(50_000);
    assert_eq!(
        request.validate().unwrap_err().field_name(),
        Some("scene_id")
    );

    request.scene_id = Some(SceneId::Product4);
    assert!(request.validate().is_ok());
}

#[test]
fn a_server_can_check_the_scene_rule_apart_while_validate_keeps_it() {
    let mut normal = sendredpack_example();
    normal.total_amount = Fen::new(50);
    let mut mini = mini_example();
    mini.total_amount = Fen::new(50_000);
    let mut group = group_example();
    group.total_amount = Fen::new(30_000);
    group.total_num = 3;

    for (name, validate, except_scene, scene) in [
        (
            "normal",
            normal.validate(),
            normal.validate_except_scene(),
            normal.check_scene_required(),
        ),
        (
            "mini",
            mini.validate(),
            mini.validate_except_scene(),
            mini.check_scene_required(),
        ),
    ] {
        assert_eq!(
            validate.unwrap_err().field_name(),
            Some("scene_id"),
            "{name}"
        );
        assert!(except_scene.is_ok(), "{name}");
        assert_eq!(scene.unwrap_err().field_name(), Some("scene_id"), "{name}");
    }
    // A group's average is a MONEY_LIMIT rule, never a missing scene.
    assert!(group.check_scene_required().is_ok());

    // The other rules stay in the server's variant.
    normal.total_num = 2;
    assert_eq!(
        normal.validate_except_scene().unwrap_err().field_name(),
        Some("total_num")
    );
}

#[test]
fn a_scene_other_than_the_eight_products_is_refused_for_every_kind_of_packet() {
    // Arrange: an unknown name, another case, and a control character the wire would
    // replace (signed as one text, sent as another).
    let unknown = ["PRODUCT_9", "product_1", "PRODUCT_1\u{1}"].map(SceneId::from);

    for scene in &unknown {
        // Act
        let alone = rules::check_scene_known(Some(scene));
        let normal = rules::check_scene_required(Fen::new(1_000), 1, Some(scene));

        // Assert
        for result in [alone, normal] {
            let error = result.unwrap_err();
            assert_eq!(error.err_code(), ErrCode::ParamError, "{scene:?}");
            assert_eq!(error.wire_description(), rules::SCENE_NOT_ENABLED);
        }
    }
    for known in SceneId::KNOWN {
        assert!(rules::check_scene_known(Some(known)).is_ok(), "{known:?}");
    }
    assert!(rules::check_scene_known(None).is_ok());
    // Each request's own validation, the group's included (which needs no scene).
    let mut normal = sendredpack_example();
    normal.scene_id = Some(SceneId::from("PRODUCT_9"));
    let mut group = group_example();
    group.scene_id = Some(SceneId::from("PRODUCT_9"));
    let mut mini = mini_example();
    mini.scene_id = Some(SceneId::from("PRODUCT_9"));
    assert_eq!(code(normal.validate()), Some(ErrCode::ParamError));
    assert_eq!(code(group.validate()), Some(ErrCode::ParamError));
    assert_eq!(code(mini.validate()), Some(ErrCode::ParamError));
}
