"""What a learner looks at: the lab's records, Logs Insights answers, charts, widgets, diagrams, exercises."""
