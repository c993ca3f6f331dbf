"""Weights of the ranker and the answerability model, fitted by `bench/quality.py --tune` on half
of the SQuAD articles (and half of the SQuAD 2.0 unanswerable questions' articles).

Generated file: rerun the tuning instead of editing by hand.
"""

WEIGHTS: dict[str, float] = {
    "dense": 2.691605,
    "dense_gap": 2.598767,
    "dense_rank": 0.880693,
    "bm25_rel": 0.007021,
    "bm25_rank": 0.409351,
    "idf_overlap": 2.073205,
    "idf_missing": -2.402617,
    "max_missing_idf": 0.391498,
    "bigram": 1.602912,
    "context_idf_overlap": 2.402617,
    "title_idf_overlap": 2.212848,
    "prev_dense": 0.916478,
    "next_dense": 0.719653,
    "prev_idf_overlap": -1.223422,
    "next_idf_overlap": -1.850250,
    "window_idf_overlap": 4.477787,
    "anaphor": 0.126003,
    "anaphor_prev_overlap": 0.760916,
    "paragraph_dense": 6.181730,
    "novel_terms": 1.939459,
    "length": -0.117824,
    "cue_time": 2.558453,
    "cue_number": 2.267624,
    "cue_name": 1.181667,
    "cue_reason": 0.950855,
}
BIAS = 0.000000
ANSWER_WEIGHTS: dict[str, float] = {
    "top_dense": 5.506329,
    "top_idf_overlap": 0.359181,
    "top_max_missing_idf": 0.000000,
    "top_context_idf_overlap": 0.986280,
    "top_window_idf_overlap": 2.264849,
    "top_bigram": 0.000000,
    "question_terms": 0.231364,
}
ANSWER_BIAS = -5.038031
# Answer only when the answerability model's probability reaches this.
MIN_CONFIDENCE = 0.550062
