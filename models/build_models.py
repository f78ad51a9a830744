#!/usr/bin/python3
"""Build Vigil's bundled models: train on data sets that ship with Debian's
scikit-learn (no download) and export them to ONNX by hand with onnx.helper.

How to run (from the repository root; needs Debian's python3-sklearn and
python3-onnx, i.e. /usr/bin/python3, not some other python on PATH):

    /usr/bin/python3 models/build_models.py            # writes models/<model>/...
    node test/fixtures/verify_models.cjs               # checks ORT reproduces heldout.json

Deterministic: fixed random_state everywhere, fixed train/held-out split
(train_test_split(test_size=0.2, random_state=42, stratify=y for classifiers)),
BLAS pinned to one thread, sorted JSON output. Re-running on the same
machine/library versions rewrites byte-identical files.

Per model it writes:
    models/<model>/config.json                 gateway configuration
    models/<model>/<v>/model.onnx              ONNX graph (ai.onnx 13, ai.onnx.ml 3, IR 8)
    models/<model>/<v>/reference.json          training deciles + proportions (drift), feature
                                               min/max, held-out performance
    models/<model>/<v>/heldout.json            held-out rows, their true targets, scikit-learn's outputs

Graph conventions (the gateway relies on them):
    input  `input`          float32 ["N", F]   raw feature values, config feature order
    classifiers: `label` int64 ["N"], `probabilities` float32 ["N", C]
    regressor:   `value` float32 ["N", 1]
"""
import os

# Pin BLAS threads before numpy loads so MLP training is bit-reproducible.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import json
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, recall_score, roc_auc_score)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 13
ML_OPSET = 3
IR_VERSION = 8
PRODUCER = "vigil-build-models"
SPLIT = dict(test_size=0.2, random_state=42)
DRIFT = {"slices": 12, "slice_seconds": 300, "psi_alert": 0.2, "min_samples": 200}


# --------------------------------------------------------------------------- helpers

def f32(a):
    return np.asarray(a, dtype=np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def finish_model(nodes, inits, n_features, outputs, doc, ml=False, meta=None):
    graph = helper.make_graph(
        nodes, "vigil", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])],
        outputs, initializer=inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if ml:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    model = helper.make_model(graph, opset_imports=opsets, producer_name=PRODUCER,
                              producer_version="1", doc_string=doc)
    model.ir_version = IR_VERSION
    model.model_version = 1
    for k, v in sorted((meta or {}).items()):
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(model, full_check=True)
    return model


def classifier_outputs(n_classes):
    return [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes])]


def scaler_nodes(scaler, nodes, inits):
    """Standardise raw inputs inside the graph: (input - mean) / scale."""
    inits += [init("scaler_mean", f32(scaler.mean_)), init("scaler_scale", f32(scaler.scale_))]
    nodes += [helper.make_node("Sub", ["input", "scaler_mean"], ["centered"], name="scaler_sub"),
              helper.make_node("Div", ["centered", "scaler_scale"], ["scaled"], name="scaler_div")]
    return "scaled"


def binary_head(logit, nodes, inits):
    """logit [N,1] -> probabilities [N,2] = [1-p, p], label = argmax."""
    inits.append(init("one", f32([1.0])))
    nodes += [helper.make_node("Sigmoid", [logit], ["p1"], name="sigmoid"),
              helper.make_node("Sub", ["one", "p1"], ["p0"], name="complement"),
              helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1, name="concat"),
              helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0, name="argmax")]


def multiclass_head(logits, nodes):
    nodes += [helper.make_node("Softmax", [logits], ["probabilities"], axis=-1, name="softmax"),
              helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0, name="argmax")]


def dense(x, W, b, name, nodes, inits):
    inits += [init(f"{name}_W", f32(W)), init(f"{name}_b", f32(b))]
    nodes += [helper.make_node("MatMul", [x, f"{name}_W"], [f"{name}_mm"], name=f"{name}_matmul"),
              helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [f"{name}_out"], name=f"{name}_add")]
    return f"{name}_out"


# --------------------------------------------------------------------------- exporters

def export_logreg(pipe, n_features, doc, meta):
    scaler, lr = pipe.named_steps["scaler"], pipe.named_steps["clf"]
    assert list(lr.classes_) == [0, 1]
    nodes, inits = [], []
    x = scaler_nodes(scaler, nodes, inits)
    logit = dense(x, lr.coef_.T, lr.intercept_, "linear", nodes, inits)
    binary_head(logit, nodes, inits)
    return finish_model(nodes, inits, n_features, classifier_outputs(2), doc, meta=meta)


def export_mlp(pipe, n_features, doc, meta):
    scaler, mlp = pipe.named_steps["scaler"], pipe.named_steps["clf"]
    n_classes = len(mlp.classes_)
    assert list(mlp.classes_) == list(range(n_classes))
    assert mlp.activation == "relu"
    nodes, inits = [], []
    x = scaler_nodes(scaler, nodes, inits)
    n_layers = len(mlp.coefs_)
    for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        x = dense(x, W, b, f"layer{i}", nodes, inits)
        if i < n_layers - 1:
            nodes.append(helper.make_node("Relu", [x], [f"layer{i}_relu"], name=f"layer{i}_relu"))
            x = f"layer{i}_relu"
    if mlp.out_activation_ == "logistic":
        assert n_classes == 2
        binary_head(x, nodes, inits)
    else:
        assert mlp.out_activation_ == "softmax"
        multiclass_head(x, nodes)
    return finish_model(nodes, inits, n_features, classifier_outputs(n_classes), doc, meta=meta)


def float32_at_most(t):
    """Largest float32 <= t (float64). sklearn trees compare float32(x) <= float64 threshold,
    which is exactly float32(x) <= float32_at_most(threshold)."""
    c = np.float32(t)
    if np.float64(c) > t:
        c = np.nextafter(c, np.float32(-np.inf))
    assert np.float64(c) <= t
    return float(c)


def export_gbr(gbr, n_features, doc, meta):
    assert gbr.loss == "squared_error" and gbr.init_ != "zero"
    base = float(gbr.init_.constant_.ravel()[0])
    lr = gbr.learning_rate
    n_treeids, n_nodeids, n_feat, n_vals, n_modes, n_true, n_false = [], [], [], [], [], [], []
    t_treeids, t_nodeids, t_ids, t_weights = [], [], [], []
    for tid, est in enumerate(gbr.estimators_[:, 0]):
        tree = est.tree_
        for nid in range(tree.node_count):
            left, right = int(tree.children_left[nid]), int(tree.children_right[nid])
            n_treeids.append(tid)
            n_nodeids.append(nid)
            if left == -1:  # leaf
                n_feat.append(0)
                n_vals.append(0.0)
                n_modes.append("LEAF")
                n_true.append(0)
                n_false.append(0)
                t_treeids.append(tid)
                t_nodeids.append(nid)
                t_ids.append(0)
                t_weights.append(float(tree.value[nid, 0, 0] * lr))
            else:  # sklearn: go left when x <= threshold
                n_feat.append(int(tree.feature[nid]))
                n_vals.append(float32_at_most(float(tree.threshold[nid])))
                n_modes.append("BRANCH_LEQ")
                n_true.append(left)
                n_false.append(right)
    node = helper.make_node(
        "TreeEnsembleRegressor", ["input"], ["value"], domain="ai.onnx.ml", name="gbr",
        n_targets=1, aggregate_function="SUM", post_transform="NONE",
        base_values=[base],
        nodes_treeids=n_treeids, nodes_nodeids=n_nodeids, nodes_featureids=n_feat,
        nodes_values=n_vals, nodes_modes=n_modes,
        nodes_truenodeids=n_true, nodes_falsenodeids=n_false,
        nodes_missing_value_tracks_true=[0] * len(n_treeids),
        target_treeids=t_treeids, target_nodeids=t_nodeids, target_ids=t_ids,
        target_weights=t_weights)
    outputs = [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["N", 1])]
    return finish_model([node], [], n_features, outputs, doc, ml=True, meta=meta)


# --------------------------------------------------------------------------- artifacts

def bins(values, edges):
    values = np.asarray(values, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    idx = np.searchsorted(edges, values, side="left")  # = number of edges strictly < x
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return (counts / len(values)).tolist()


def decile_edges(values):
    q = np.quantile(np.asarray(values, dtype=np.float64), np.arange(1, 10) / 10.0)
    return np.unique(q).tolist()  # sorted, strictly ascending, duplicates removed


def dist(name, values, edges=None):
    if edges is None:
        edges = decile_edges(values)
    return {"name": name, "edges": [float(e) for e in edges], "proportions": bins(values, edges)}


def feature_dist(name, values):
    """A feature's drift bins plus its training range (data quality: out-of-range counts)."""
    return dict(dist(name, values), min=float(np.min(values)), max=float(np.max(values)))


def reference(X_train, names, outputs, performance):
    return {"format": "vigil-reference/1", "rows": int(X_train.shape[0]),
            "features": [feature_dist(n, X_train[:, j]) for j, n in enumerate(names)],
            "outputs": outputs, "performance": performance}


def classifier_performance(model, X_test, y_test):
    """Held-out metrics as scikit-learn computes them by default (binary: positive class 1;
    multiclass: macro averages; log loss over predict_proba in float64)."""
    label = model.predict(X_test)
    proba = model.predict_proba(X_test)
    n_classes = proba.shape[1]
    average = "binary" if n_classes == 2 else "macro"
    metrics = {
        "accuracy": accuracy_score(y_test, label),
        "precision": precision_score(y_test, label, average=average),
        "recall": recall_score(y_test, label, average=average),
        "f1": f1_score(y_test, label, average=average),
        "log_loss": log_loss(y_test, proba, labels=list(range(n_classes))),
    }
    if n_classes == 2:
        metrics["auc"] = roc_auc_score(y_test, proba[:, 1])
    return {"rows": int(len(y_test)), "metrics": {k: float(v) for k, v in metrics.items()}}


def regressor_performance(model, X_test, y_test):
    value = model.predict(X_test)
    return {"rows": int(len(y_test)), "metrics": {
        "mae": float(mean_absolute_error(y_test, value)),
        "rmse": float(mean_squared_error(y_test, value, squared=False))}}


def classifier_reference(model, X_train, names, X_test, y_test):
    proba = model.predict_proba(X_train)
    label = model.predict(X_train)
    n_classes = proba.shape[1]
    mids = [c + 0.5 for c in range(n_classes - 1)]
    return reference(X_train, names, [dist("label", label.astype(np.float64), mids),
                                      dist("probability", proba.max(axis=1))],
                     classifier_performance(model, X_test, y_test))


def classifier_heldout(model, X_test, y_test, names, cap):
    X = X_test[:cap]
    proba = model.predict_proba(X)
    label = model.predict(X)
    return {"feature_names": names, "rows": X.tolist(), "targets": [int(t) for t in y_test[:cap]],
            "expected": [{"label": int(l), "probabilities": [float(p) for p in pr]}
                         for l, pr in zip(label, proba)]}


def write_json(path, obj, indent=None):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=False)
        f.write("\n")


def write_version(model_dir, version, onnx_model, ref, heldout):
    d = os.path.join(model_dir, str(version))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(onnx_model.SerializeToString())
    write_json(os.path.join(d, "reference.json"), ref)
    write_json(os.path.join(d, "heldout.json"), heldout)


def write_config(model_dir, cfg):
    os.makedirs(model_dir, exist_ok=True)
    write_json(os.path.join(model_dir, "config.json"), cfg, indent=2)


def features_cfg(names):
    return [{"name": n, "type": "number"} for n in names]


def batching(max_batch):
    return {"max_batch_size": max_batch, "max_queue_delay_us": 0, "max_queue_rows": 4096}


def check_converged(mlp, what):
    if mlp.n_iter_ >= mlp.max_iter:
        sys.exit(f"{what}: MLP did not converge in {mlp.max_iter} iterations")


# --------------------------------------------------------------------------- models

def build_breast_cancer(out):
    ds = load_breast_cancer()
    names = [n.replace(" ", "_") for n in ds.feature_names]
    X, y = ds.data.astype(np.float64), ds.target
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, **SPLIT)
    d = os.path.join(out, "breast-cancer")
    common = {"dataset": "sklearn.datasets.load_breast_cancer", "train_rows": len(X_tr),
              "sklearn_version": sklearn.__version__, "classes": "0=malignant,1=benign"}

    lr = Pipeline([("scaler", StandardScaler()),
                   ("clf", LogisticRegression(C=1.0, max_iter=5000, random_state=0))]).fit(X_tr, y_tr)
    acc1 = lr.score(X_te, y_te)
    m1 = export_logreg(lr, len(names),
                       "breast-cancer v1: StandardScaler + LogisticRegression; "
                       "probabilities[:,1] = P(benign)", dict(common, heldout_accuracy=acc1))
    write_version(d, 1, m1, classifier_reference(lr, X_tr, names, X_te, y_te),
                  classifier_heldout(lr, X_te, y_te, names, cap=len(X_te)))

    mlp = Pipeline([("scaler", StandardScaler()),
                    ("clf", MLPClassifier(hidden_layer_sizes=(32, 16), activation="relu",
                                          max_iter=2000, random_state=42))]).fit(X_tr, y_tr)
    check_converged(mlp.named_steps["clf"], "breast-cancer v2")
    acc2 = mlp.score(X_te, y_te)
    m2 = export_mlp(mlp, len(names),
                    "breast-cancer v2: StandardScaler + MLPClassifier(32,16 relu, logistic out); "
                    "probabilities[:,1] = P(benign)", dict(common, heldout_accuracy=acc2))
    write_version(d, 2, m2, classifier_reference(mlp, X_tr, names, X_te, y_te),
                  classifier_heldout(mlp, X_te, y_te, names, cap=len(X_te)))

    write_config(d, {
        "task": "binary-classification",
        "description": "Wisconsin diagnostic breast cancer (scikit-learn load_breast_cancer). "
                       "Label 0 = malignant, 1 = benign. v1 logistic regression, v2 MLP (32,16).",
        "features": features_cfg(names),
        "traffic": {"weights": {"1": 90, "2": 10}, "shadow": None},
        "batching": batching(64),
        "drift": DRIFT,
    })
    return {"breast-cancer/1": acc1, "breast-cancer/2": acc2}


def build_diabetes(out):
    ds = load_diabetes()
    names = list(ds.feature_names)
    assert names == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    X, y = ds.data.astype(np.float64), ds.target
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, **SPLIT)
    gbr = GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.1,
                                    random_state=42).fit(X_tr, y_tr)
    r2 = gbr.score(X_te, y_te)
    d = os.path.join(out, "diabetes")
    m = export_gbr(gbr, len(names),
                   "diabetes v1: GradientBoostingRegressor (100 trees, depth 3, lr 0.1) as one "
                   "ai.onnx.ml TreeEnsembleRegressor; value = disease progression one year after baseline",
                   {"dataset": "sklearn.datasets.load_diabetes (scaled features)", "train_rows": len(X_tr),
                    "sklearn_version": sklearn.__version__, "heldout_r2": r2})
    pred_tr = gbr.predict(X_tr)
    ref = reference(X_tr, names, [dist("value", pred_tr)], regressor_performance(gbr, X_te, y_te))
    X_h = X_te[:100]
    heldout = {"feature_names": names, "rows": X_h.tolist(), "targets": [float(t) for t in y_te[:100]],
               "expected": [{"value": float(v)} for v in gbr.predict(X_h)]}
    write_version(d, 1, m, ref, heldout)
    write_config(d, {
        "task": "regression",
        "description": "Diabetes progression (scikit-learn load_diabetes, features as shipped: "
                       "mean-centred and scaled). Gradient-boosted trees, 100 x depth 3.",
        "features": features_cfg(names),
        "batching": batching(64),
        "drift": DRIFT,
    })
    return {"diabetes/1": r2}


def build_digits(out):
    ds = load_digits()
    names = [f"pixel_{i}" for i in range(64)]
    X, y = ds.data.astype(np.float64), ds.target
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, **SPLIT)
    mlp = Pipeline([("scaler", StandardScaler()),
                    ("clf", MLPClassifier(hidden_layer_sizes=(256, 256), activation="relu",
                                          max_iter=1000, random_state=42))]).fit(X_tr, y_tr)
    check_converged(mlp.named_steps["clf"], "digits")
    acc = mlp.score(X_te, y_te)
    d = os.path.join(out, "digits")
    m = export_mlp(mlp, len(names),
                   "digits v1: StandardScaler + MLPClassifier(256,256 relu, softmax out) on 8x8 "
                   "images, pixel intensities 0..16; probabilities[:,k] = P(digit k)",
                   {"dataset": "sklearn.datasets.load_digits", "train_rows": len(X_tr),
                    "sklearn_version": sklearn.__version__, "heldout_accuracy": acc})
    write_version(d, 1, m, classifier_reference(mlp, X_tr, names, X_te, y_te),
                  classifier_heldout(mlp, X_te, y_te, names, cap=100))
    write_config(d, {
        "task": "multiclass-classification",
        "description": "Handwritten digits 0-9 (scikit-learn load_digits), 8x8 pixels with "
                       "intensities 0..16 in row-major order. MLP (256,256).",
        "features": features_cfg(names),
        "batching": batching(128),
        "drift": DRIFT,
    })
    return {"digits/1": acc}


def main():
    out = HERE
    warnings.simplefilter("error", ConvergenceWarning)
    scores = {}
    scores.update(build_breast_cancer(out))
    scores.update(build_diabetes(out))
    scores.update(build_digits(out))
    for k, v in scores.items():
        print(f"{k}: held-out {'R2' if k.startswith('diabetes') else 'accuracy'} {v:.4f}")


if __name__ == "__main__":
    main()
