import pytest

from starlab import seeds


def test_named_streams_keep_the_values_the_code_used():
    # the arithmetic the variants wrote inline before the table existed
    assert seeds.derive(3, "finetune", 2) == 3 * 1009 + 2
    assert seeds.sample_seed(3, 2, "rationalize") == 3 * 100003 + 2 * 11 + 1
    assert seeds.sample_seed(3, 2, "something-else") == 3 * 100003 + 2 * 11 + 6
    assert seeds.derive(3, "quiet_thoughts") == 3 * 100003 + 5
    assert seeds.derive(3, "dpo_pairs", 1) == 3 * 7919 + 1


def test_an_unknown_stream_is_an_error():
    with pytest.raises(KeyError):
        seeds.derive(0, "no-such-stream")


def test_phases_of_one_run_sample_from_distinct_streams():
    vals = [seeds.sample_seed(s, it, ph) for s in range(1, 5) for it in range(0, 20) for ph in seeds.SAMPLE_PHASES]
    assert len(vals) == len(set(vals))


def test_streams_of_one_iteration_differ_for_a_nonzero_seed():
    # within one iteration (same n) no two named streams of a run coincide; across iterations
    # they can (seed 1: "lora" at n = 6 is "verifier_lora" at n = 0), as the module says
    for s in range(1, 6):
        for it in range(16):
            vals = {name: seeds.derive(s, name, it) for name in seeds.STREAMS if name != "quiet_warmup"}
            assert len(set(vals.values())) == len(vals), (s, it, vals)
