"""Weights of the ranker and the answerability model, fitted by `bench/quality.py --tune` on half
of the SQuAD articles (and half of the SQuAD 2.0 unanswerable questions' articles).

Generated file: rerun the tuning instead of editing by hand.
"""

WEIGHTS: dict[str, float] = {
    "dense": 2.641124,
    "dense_gap": 2.550278,
    "dense_rank": 0.921414,
    "bm25_rel": 0.156334,
    "bm25_rank": 0.296994,
    "idf_overlap": 2.079812,
    "idf_missing": -2.133578,
    "max_missing_idf": 0.134034,
    "bigram": 1.564403,
    "context_idf_overlap": 2.133578,
    "title_idf_overlap": 1.416927,
    "prev_dense": 0.864050,
    "next_dense": 0.603035,
    "prev_idf_overlap": -1.139336,
    "next_idf_overlap": -1.758880,
    "window_idf_overlap": -0.838196,
    "anaphor": 0.121982,
    "anaphor_prev_overlap": 0.706700,
    "paragraph_dense": 5.972211,
    "novel_terms": 2.650511,
    "length": -0.252111,
    "cue_time": 1.466552,
    "cue_number": 1.108882,
    "cue_name": 0.051422,
    "cue_reason": 1.042031,
    "missing_max": -0.189532,
    "window_missing_max": -0.495371,
    "window_missing_count": -1.221190,
    "number_missing": -0.098356,
    "numbers_present": 0.455493,
    "name_missing": -0.097027,
    "negation_mismatch": -1.805930,
    "antonym_clash": 0.204215,
    "answer_slot": 1.185704,
}
BIAS = 0.000000
ANSWER_WEIGHTS: dict[str, float] = {
    "dense": 4.753085,
    "idf_overlap": 0.357860,
    "max_missing_idf": 0.000000,
    "context_idf_overlap": 0.309503,
    "window_idf_overlap": 0.723006,
    "bigram": 0.000000,
    "missing_max": -0.149647,
    "window_missing_max": -0.274657,
    "window_missing_count": -0.178401,
    "number_missing": -0.631436,
    "numbers_present": 0.135185,
    "name_missing": -0.573559,
    "negation_mismatch": -3.691054,
    "antonym_clash": -2.117509,
    "answer_slot": 0.433815,
    "question_terms": 0.917243,
}
ANSWER_BIAS = -4.508479
# Answer only when the answerability model's probability reaches this.
MIN_CONFIDENCE = 0.441631
