"""What a grade is and how a model is graded: schemes, metrics, batch grading of folders and projects."""
