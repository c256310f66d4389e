//! Typed prompt templates: arguments are checked against the declared parameters before
//! anything is rendered, so a bundle bug is a clear error, not a malformed prompt sent to a
//! paid model.

use loom_runtime::{Arg, ArgValue, ParamType, Template};

/// Renders `template` with `args`, or says exactly which argument is wrong.
pub fn render(template: &Template, args: &[Arg]) -> Result<String, String> {
    for arg in args {
        let Some(param) = template.params.iter().find(|p| p.name == arg.name) else {
            return Err(format!(
                "template \"{}\" has no parameter \"{}\" (it takes: {})",
                template.id,
                arg.name,
                names(template)
            ));
        };
        let ok = matches!(
            (&param.ty, &arg.value),
            (ParamType::Text, ArgValue::Text(_))
                | (ParamType::Integer, ArgValue::Integer(_))
                | (ParamType::Boolean, ArgValue::Boolean(_))
                | (ParamType::TextList, ArgValue::TextList(_))
        );
        if !ok {
            return Err(format!(
                "template \"{}\" parameter \"{}\" is {}, but the bundle passed {}",
                template.id,
                param.name,
                type_name(&param.ty),
                value_type(&arg.value)
            ));
        }
    }
    for p in &template.params {
        if p.required && !args.iter().any(|a| a.name == p.name) {
            return Err(format!(
                "template \"{}\" needs parameter \"{}\" ({}), which the bundle did not pass",
                template.id,
                p.name,
                type_name(&p.ty)
            ));
        }
    }
    let mut out = String::with_capacity(template.body.len() * 2);
    let mut rest = template.body.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("template \"{}\" has an unclosed {{{{", template.id));
        };
        let name = after[..end].trim();
        if !template.params.iter().any(|p| p.name == name) {
            return Err(format!(
                "template \"{}\" uses {{{{{name}}}}}, which is not one of its parameters ({})",
                template.id,
                names(template)
            ));
        }
        if let Some(arg) = args.iter().find(|a| a.name == name) {
            render_value(&mut out, &arg.value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn render_value(out: &mut String, v: &ArgValue) {
    match v {
        ArgValue::Text(s) => out.push_str(s),
        ArgValue::Integer(i) => out.push_str(&i.to_string()),
        ArgValue::Boolean(b) => out.push_str(if *b { "yes" } else { "no" }),
        ArgValue::TextList(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str("- ");
                out.push_str(item);
            }
        }
    }
}

fn names(t: &Template) -> String {
    let v: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

fn type_name(t: &ParamType) -> &'static str {
    match t {
        ParamType::Text => "text",
        ParamType::Integer => "an integer",
        ParamType::Boolean => "a boolean",
        ParamType::TextList => "a text list",
    }
}

fn value_type(v: &ArgValue) -> &'static str {
    match v {
        ArgValue::Text(_) => "text",
        ArgValue::Integer(_) => "an integer",
        ArgValue::Boolean(_) => "a boolean",
        ArgValue::TextList(_) => "a text list",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_runtime::Param;

    fn tpl() -> Template {
        Template {
            id: "t".into(),
            params: vec![
                Param {
                    name: "task".into(),
                    ty: ParamType::Text,
                    required: true,
                    doc: String::new(),
                },
                Param {
                    name: "items".into(),
                    ty: ParamType::TextList,
                    required: false,
                    doc: String::new(),
                },
            ],
            body: "Do {{task}}.\n{{ items }}".into(),
        }
    }

    fn arg(name: &str, value: ArgValue) -> Arg {
        Arg {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn renders_text_and_lists() {
        let out = render(
            &tpl(),
            &[
                arg("task", ArgValue::Text("x".into())),
                arg("items", ArgValue::TextList(vec!["a".into(), "b".into()])),
            ],
        )
        .unwrap();
        assert_eq!(out, "Do x.\n- a\n- b");
    }

    #[test]
    fn refuses_wrong_missing_and_unknown_arguments() {
        let e = render(&tpl(), &[arg("task", ArgValue::Integer(3))]).unwrap_err();
        assert!(
            e.contains("\"task\" is text, but the bundle passed an integer"),
            "{e}"
        );
        let e = render(&tpl(), &[]).unwrap_err();
        assert!(e.contains("needs parameter \"task\""), "{e}");
        let e = render(
            &tpl(),
            &[
                arg("task", ArgValue::Text("x".into())),
                arg("nope", ArgValue::Boolean(true)),
            ],
        )
        .unwrap_err();
        assert!(e.contains("no parameter \"nope\""), "{e}");
    }

    #[test]
    fn refuses_placeholders_that_are_not_parameters() {
        let mut t = tpl();
        t.body = "{{ghost}}".into();
        let e = render(&t, &[arg("task", ArgValue::Text("x".into()))]).unwrap_err();
        assert!(e.contains("{{ghost}}"), "{e}");
    }
}
