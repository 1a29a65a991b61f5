//! The cost model's segment table (`cost::circuit`) must agree with the plan obtained by
//! running the encrypted circuit over the simulated evaluator (`ckks::plan`): same levels
//! consumed and the same profile operations at the same levels, for every segment kind and
//! every start level of the `fgb-like` shape.

use cellwise::ckks::plan::{self, PlanConfig};
use cellwise::cost::circuit;

fn sorted(mut v: Vec<(String, usize, usize)>) -> Vec<(String, usize, usize)> {
    v.sort();
    v
}

#[test]
fn cost_segments_agree_with_the_simulated_circuit() {
    let cfg = PlanConfig::fgb_like();
    let cells = plan::tanh_cells(&[3, 7, 17], (-8.0, 8.0)).unwrap();
    let mut kinds = vec![
        (
            circuit::SegmentKind::FirstLinear,
            plan::SegmentKind::FirstLinear,
        ),
        (circuit::SegmentKind::Linear, plan::SegmentKind::Linear),
        (circuit::SegmentKind::Output, plan::SegmentKind::Output),
    ];
    for cell in cells {
        kinds.push((
            circuit::SegmentKind::Poly(cell.degree()),
            plan::SegmentKind::Poly(cell),
        ));
    }
    for (cost_kind, plan_kind) in kinds {
        for level in cost_kind.depth()..=cfg.params.top_level() {
            let p = plan::plan_segment(&cfg, &plan_kind, level).unwrap();
            assert_eq!(p.level_in - p.level_out, cost_kind.depth(), "{cost_kind:?}");
            let want = sorted(
                cost_kind
                    .ops(level)
                    .into_iter()
                    .map(|o| (o.op, o.level, o.count))
                    .collect(),
            );
            let got = sorted(
                p.ops
                    .into_iter()
                    .map(|o| (o.op, o.level, o.count))
                    .collect(),
            );
            assert_eq!(got, want, "{cost_kind:?} at level {level}");
        }
        // Below its depth the circuit refuses to run.
        if cost_kind.depth() > 0 {
            assert!(plan::plan_segment(&cfg, &plan_kind, cost_kind.depth() - 1).is_err());
        }
    }
}
