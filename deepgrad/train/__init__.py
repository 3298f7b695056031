"""Training: ``Trainer.fit`` with callbacks, exact-resume checkpoints, and metrics that score
predictions batch by batch."""

from deepgrad.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClipping,
    JSONLinesLogger,
    LRSchedulerCallback,
    ModelCheckpoint,
    ProgressBar,
    TensorBoard,
)
from deepgrad.train.checkpoint import load_checkpoint, save_checkpoint
from deepgrad.train.gan import GANTrainer
from deepgrad.train.gan_scores import (
    classifier_outputs,
    frechet_distance,
    gan_scores,
    inception_score,
)
from deepgrad.train.metrics import (
    ROCAUC,
    Accuracy,
    ConfusionMatrix,
    F1Score,
    MeanAbsoluteError,
    Metric,
    Precision,
    R2Score,
    Recall,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    get_metric,
    mean_absolute_error,
    precision_recall_f1,
    r2_score,
    roc_auc,
    top_k_accuracy,
)
from deepgrad.train.trainer import History, Trainer
